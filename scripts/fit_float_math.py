"""Fit the polynomial and rational approximations of opbench/csrc/activation_math.h, and report their float32 errors.

    python scripts/fit_float_math.py tail [numerator degree] [denominator degree]   (default 4 5; 5 6 for
                                                                                     the double math of float32 results)
    python scripts/fit_float_math.py exp [degree]                                    (default 6)

Both fits minimize the maximum *relative* error, the error that survives multiplication:
linearized least squares P - f Q (Sanathanan-Koerner reweighting by 1 / Q; Q = 1 for a polynomial)
with Lawson's weights pushing towards minimax.

tail: the float kernels compute Phi(-a) = 0.5 erfc(a / sqrt 2) as exp(-a^2 / 2) * R(a), with
R(a) = 0.5 erfcx(a / sqrt 2) smooth and decaying like 1 / (a sqrt(2 pi)); R ~ P(a) / Q(a) on
[0, TAIL_END], Q(0) = 1. Then GELU in float32 with the rounded coefficients (FMA Horner, as the
kernels do) against float64 on [-14, 14]: the largest absolute error, and the largest relative error
where GELU(x) < 0 is a normal float.

exp: exp(r) on the Cody-Waite range |r| <= ln2 / 2, evaluated in float32 Horner form, and the same
polynomial as 2^v on |v| <= 1/2 (coefficients scaled by ln2^k), the form GELU's Gaussian kernel uses.
"""

import math
import sys

import numpy as np
from scipy.special import erfc, erfcx

TAIL_END = 13.25  # float's exp(-a^2 / 2) is 0 from a = 13.27 on, and so is the kernels' tail
FLOAT_EPS = 2.0**-24


def fit(x, f, numerator: int, denominator: int = 0, iterations: int = 300):
    """(max relative error, P, Q) of the rational P / Q ~ f on x, coefficients lowest power first."""
    powers = np.vander(x, max(numerator, denominator) + 1, increasing=True)
    weights, previous_q, best = np.ones_like(x), np.ones_like(x), None
    for _ in range(iterations):
        system = np.hstack([powers[:, : numerator + 1], -f[:, None] * powers[:, 1 : denominator + 1]])
        scale = (weights / np.abs(previous_q) / np.abs(f))[:, None]  # / f: relative error
        solution, *_ = np.linalg.lstsq(system * scale, f * scale[:, 0], rcond=None)
        p, q = solution[: numerator + 1], np.concatenate([[1.0], solution[numerator + 1 :]])
        previous_q = powers[:, : denominator + 1] @ q
        error = (powers[:, : numerator + 1] @ p / previous_q - f) / f
        if best is None or np.abs(error).max() < best[0]:
            best = (np.abs(error).max(), p, q)
        weights = weights * (np.abs(error) + 1e-30)
        weights /= weights.sum()
    return best


def horner32(coefficients, a):
    result = np.full_like(a, np.float32(coefficients[-1]))
    for c in coefficients[-2::-1]:  # fused multiply-add: one rounding per step
        result = (result.astype(np.float64) * a + np.float32(c)).astype(np.float32)
    return result


def gelu_errors(p, q) -> tuple[float, float, float]:
    """(largest absolute error, where, largest relative error of the negative side) of float32 GELU."""
    x = np.linspace(-14, 14, 4_000_001).astype(np.float32)
    a = np.minimum(np.abs(x), np.float32(math.sqrt(176.0)))
    kernel = np.exp((np.float32(-0.5) * (a * a)).astype(np.float64)).astype(np.float32)
    kernel = np.where(kernel < np.finfo(np.float32).tiny, np.float32(0), kernel)  # as exp_polynomial
    tail = (kernel * (horner32(p, a) / horner32(q, a)).astype(np.float32)).astype(np.float32)
    # As Gelu::forward: fma(-a, tail, max(x, 0)), one rounding.
    y = (np.maximum(x, 0).astype(np.float64) - a.astype(np.float64) * tail).astype(np.float32).astype(np.float64)
    exact = x.astype(np.float64) * 0.5 * erfc(-x.astype(np.float64) / math.sqrt(2.0))
    error = np.abs(y - exact)
    negative = (x < 0) & (np.abs(exact) > np.finfo(np.float32).tiny)
    relative = np.abs(y[negative] - exact[negative]) / np.abs(exact[negative])
    return float(error.max()), float(x[error.argmax()]), float(relative.max())


def tail(numerator: int = 4, denominator: int = 5) -> None:
    a = np.linspace(0.0, TAIL_END, 40001)
    worst, p, q = fit(a, 0.5 * erfcx(a / math.sqrt(2.0)), numerator, denominator)
    print(f"max relative |P/Q - R| / R on [0, {TAIL_END}]: {worst:.3g}")
    print("P (a^0 first):", ", ".join(f"{c!r}" for c in map(float, p)))
    print("Q (a^0 first):", ", ".join(f"{c!r}" for c in map(float, q)))
    print("min Q on [0, 100]:", float((np.vander(np.linspace(0, 100, 100001), len(q), increasing=True) @ q).min()))
    absolute, at, relative = gelu_errors(p, q)
    print(
        f"float32 GELU: max absolute error {absolute:.3g} at x = {at:.6g}; max relative error for x < 0: {relative:.3g}"
    )


def exp(degree: int = 6) -> None:
    half_ln2 = math.log(2.0) / 2
    r = np.linspace(-half_ln2, half_ln2, 20001)
    worst, p, _ = fit(r, np.exp(r), degree)
    print(f"max relative error of the degree-{degree} polynomial on |r| <= ln2 / 2: {worst:.3g}")
    print("coefficients (r^0 first):", ", ".join(f"{c:.10e}" for c in p))
    r32 = np.linspace(-half_ln2, half_ln2, 200001).astype(np.float32)
    exact = np.exp(r32.astype(np.float64))
    error = np.abs(horner32(p, r32) - exact) / exact
    print(f"float32 Horner: max relative error {error.max():.3g} = {error.max() / FLOAT_EPS:.2f} * 2^-24")
    # 2^v = exp(v ln2) on |v| <= 1/2 is the same polynomial in v with coefficient k times ln2^k (the
    # kernels' exp_reduced<true>); only the rounding of the scaled coefficients differs.
    v32 = np.linspace(-0.5, 0.5, 200001).astype(np.float32)
    exact = 2.0 ** v32.astype(np.float64)
    error = np.abs(horner32([c * math.log(2.0) ** k for k, c in enumerate(p)], v32) - exact) / exact
    print(f"as 2^v, coefficients times ln2^k: max relative error {error.max() / FLOAT_EPS:.2f} * 2^-24")


if __name__ == "__main__":
    targets = {"tail": tail, "exp": exp}
    if len(sys.argv) < 2 or sys.argv[1] not in targets:
        sys.exit(f"usage: {sys.argv[0]} tail|exp [degrees...]")
    targets[sys.argv[1]](*(int(v) for v in sys.argv[2:]))

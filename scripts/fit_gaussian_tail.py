"""Fit the rational factor of the Gaussian tail used by csrc/activation_math.h, and report its error.

    python scripts/fit_gaussian_tail.py [numerator degree] [denominator degree]   (default 4 5)

The float kernels compute Phi(-a) = 0.5 erfc(a / sqrt 2) as exp(-a^2 / 2) * R(a), with
R(a) = 0.5 erfcx(a / sqrt 2) smooth and decaying like 1 / (a sqrt(2 pi)). This fits R ~ P(a) / Q(a) on
[0, END] with Q(0) = 1 for least maximum *relative* error (so the tail's error is relative too, and
no absolute error is left for x * (1 - tail) to multiply): linearized least squares P - R Q
(Sanathanan-Koerner reweighting by 1 / Q) with Lawson's weights pushing towards minimax. Then
evaluates GELU with the float32-rounded coefficients in float32 (FMA Horner, as the kernels do)
against float64 on [-14, 14]: the largest absolute error, and the largest relative error where
GELU(x) < 0 is a normal float.
"""

import math
import sys

import numpy as np
from scipy.special import erfc, erfcx

END = 13.25  # float's exp(-a^2 / 2) flushes to 0 past a = 13.2, and so does the kernels' tail


def fit(numerator: int, denominator: int, iterations: int = 300):
    a = np.linspace(0.0, END, 40001)
    ratio = 0.5 * erfcx(a / math.sqrt(2.0))
    powers = np.vander(a, max(numerator, denominator) + 1, increasing=True)
    weights, previous_q, best = np.ones_like(a), np.ones_like(a), None
    for _ in range(iterations):
        system = np.hstack([powers[:, : numerator + 1], -ratio[:, None] * powers[:, 1 : denominator + 1]])
        scale = (weights / np.abs(previous_q) / ratio)[:, None]  # / ratio: relative error
        solution, *_ = np.linalg.lstsq(system * scale, ratio * scale[:, 0], rcond=None)
        p, q = solution[: numerator + 1], np.concatenate([[1.0], solution[numerator + 1 :]])
        previous_q = powers[:, : denominator + 1] @ q
        error = (powers[:, : numerator + 1] @ p / previous_q - ratio) / ratio
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
    a = np.abs(x)
    kernel = np.exp((np.float32(-0.5) * (a * a)).astype(np.float64)).astype(np.float32)
    kernel = np.where(kernel < np.finfo(np.float32).tiny, np.float32(0), kernel)  # exp_approx flushes
    tail = (kernel * (horner32(p, a) / horner32(q, a)).astype(np.float32)).astype(np.float32)
    # As Gelu::forward: x > 0 gives fma(-x, tail, x) (one rounding), x <= 0 gives x * tail.
    positive = np.where(tail == 0, x, (x.astype(np.float64) - x.astype(np.float64) * tail).astype(np.float32))
    y = np.where(x > 0, positive, (x * tail).astype(np.float32)).astype(np.float64)
    exact = x.astype(np.float64) * 0.5 * erfc(-x.astype(np.float64) / math.sqrt(2.0))
    error = np.abs(y - exact)
    negative = (x < 0) & (np.abs(exact) > np.finfo(np.float32).tiny)
    relative = np.abs(y[negative] - exact[negative]) / np.abs(exact[negative])
    return float(error.max()), float(x[error.argmax()]), float(relative.max())


if __name__ == "__main__":
    numerator, denominator = (int(v) for v in sys.argv[1:3]) if len(sys.argv) > 2 else (4, 5)
    worst, p, q = fit(numerator, denominator)
    print(f"max relative |P/Q - R| / R on [0, {END}]: {worst:.3g}")
    print("P (a^0 first):", ", ".join(f"{c:.9e}" for c in p))
    print("Q (a^0 first):", ", ".join(f"{c:.9e}" for c in q))
    print("min Q on [0, 100]:", float((np.vander(np.linspace(0, 100, 100001), len(q), increasing=True) @ q).min()))
    print("float32 GELU: max absolute error %.3g at x = %.6g; max relative error for x < 0: %.3g" % gelu_errors(p, q))

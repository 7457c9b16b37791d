"""Fit the polynomial and rational approximations of opbench/csrc/activation_math.h, and report their float32 errors.

    python scripts/fit_float_math.py tail [numerator degree] [denominator degree]   (default 4 5; 5 6 for
                                                                                     the double math of float32 results)
    python scripts/fit_float_math.py exp [degree]                                    (default 6)
    python scripts/fit_float_math.py gelu-table [degree]                             (default 7)
    python scripts/fit_float_math.py gelu-derivative-table [degree]                  (default 8)
    python scripts/fit_float_math.py gelu-below [degree]                             (default 6)

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

gelu-table: the tables of GELU's float32 forward on AVX-512 (opbench/csrc/cpu_vector_runs.h): on each
interval of x in (-4, 5.5] that trunc(4x) picks, GELU(c + t) = C0 + C1 t + t^2 Q(t) about the interval's
middle c, C0 = GELU(c) and C1 = GELU'(c) exact as float pairs, Q of degree - 2 fitted for least maximum
relative error of the whole; then the kernel's float32 arithmetic (emulated: FMA in float64, one
rounding to float32) against float64 GELU on every interval, in ulps, the bound that gives GeGLU's
products (GELU(gate) * up rounded once), and the table as C++.

gelu-derivative-table: the same for GELU's float32 backward, grad * GELU'(x), on (-4, 6.25]: the intervals
next to GELU''s zero expanded about it (where C0 + C1 t about their middles would cancel), the error
judged relative to max(|GELU'|, 2^-10), and the bound on grad times the pair rounded once.

gelu-below: GELU below those tables, x in [-16, -4], as -exp(-a^2 / 2) F(s) / sqrt(2 pi) with a = -x,
s = 1 / a^2 and F(s) = sqrt(pi / 2) a erfcx(a / sqrt 2) = 1 - s G(s) (Mills' ratio): G fitted for least
maximum relative error on s in [1/256, 1/16], F's error from it (G's times s G / F), and G as C++
(opbench/csrc/activation_math.h's gelu_below_tables; the kernel is measured on every input by the tests).
"""

import math
import sys
import textwrap

import numpy as np
from scipy.optimize import brentq
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


def fma32(a, b, c):
    """float32 a * b + c with one rounding (the product is exact in float64)."""
    return (np.asarray(a, np.float64) * np.asarray(b, np.float64) + np.asarray(c, np.float64)).astype(np.float32)


def horner32(coefficients, a):
    result = np.full_like(a, np.float32(coefficients[-1]))
    for c in coefficients[-2::-1]:  # fused multiply-add: one rounding per step
        result = fma32(result, a, np.float32(c))
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


# gelu-table and gelu-derivative-table: j = trunc(4x) clamped to [J_FIRST, J_LAST] for x in (TABLE_LOW,
# end]; the table lane is j mod 32, every lane of two registers. The last interval is [4, end]: from
# GELU's end on GELU(x) rounds to x (x Phi(-x) is below half an ulp of x), which the kernel returns; from
# the derivative's GELU'(x) - 1 = x phi(x) - Phi(-x) is below 2^-27, and grad * GELU'(x) rounds to grad.
J_FIRST, J_LAST, TABLE_LANES = -15, 16, 32  # the kernel's index is j itself: the permute reads its low 5 bits
TABLE_LOW = -4.0


def gelu64(x):
    return 0.5 * x * erfc(-x / math.sqrt(2.0))


def gelu_derivative64(x):
    return 0.5 * erfc(-x / math.sqrt(2.0)) + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def gelu_second_derivative64(x):
    return (2.0 - x * x) * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


# GELU'(x) = 0 at x = -0.7518: where |x g'(x) / g(x)| > 2^8 (|GELU'| below 1.27e-3 there) the ULP budget
# is absolute (opbench/correctness/tolerance.py), so the derivative's fit weighs its error relative to
# this floor, not to a value that vanishes.
DERIVATIVE_FLOOR = 2.0**-10


def table_interval(j: int, end: float) -> tuple[float, float, float]:
    """(lower end, upper end, middle) of the x with trunc(4x) = j."""
    if j == 0:
        return -0.25, 0.25, 0.0
    if j == J_LAST:
        return J_LAST / 4, end, (J_LAST / 4 + end) / 2
    low, high = (j / 4, (j + 1) / 4) if j > 0 else ((j - 1) / 4, j / 4)
    return low, high, (low + high) / 2


def split32(value: float) -> tuple[np.float32, np.float32]:
    high = np.float32(value)
    return high, np.float32(value - float(high))


def table_kernel(x, row):
    """The kernel's float32 arithmetic on x (float32 array) with one interval's table row: (hi, lo), hi the
    rounded value, lo the rest of the unrounded one (GeGLU and the backward multiply both by up or grad)."""
    center, c0, c0_lo, c1, c1_lo, *q_coefficients = row
    t = (x - center).astype(np.float32)  # exact: x and the middle are within a factor 2 (Sterbenz)
    q = horner32(q_coefficients, t)
    p = (c1 * t).astype(np.float32)
    p_lo = fma32(c1, t, -p)
    s = (c0 + p).astype(np.float32)
    s_lo = (p - (s - c0).astype(np.float32)).astype(np.float32)  # Fast2Sum: |C0| >= |C1 t| on every interval
    t2 = (t * t).astype(np.float32)
    t2_lo = fma32(t, t, -t2)
    low_parts = fma32(c1_lo, t, (c0_lo + p_lo).astype(np.float32))
    rest = (s_lo + fma32(t2, q, fma32(t2_lo, q, low_parts))).astype(np.float32)
    hi = (s + rest).astype(np.float32)
    lo = (rest - (hi - s).astype(np.float32)).astype(np.float32)
    return hi, lo


def fit_table(name: str, f64, f64_derivative, end: float, degree: int, floor: float) -> None:
    """One table: on each interval f(c + t) = C0 + C1 t + t^2 Q(t), Q of degree - 2 fitted for least maximum
    error of the whole relative to max(|f|, floor); the kernel's errors on every interval (in ulps of the
    value, or of 1.0 where |f| < floor), the bound on a product with it rounded once, and the table as C++."""
    rows = np.zeros((degree + 4, TABLE_LANES), np.float32)
    worst, worst_product, misrounded, samples = 0.0, 0.0, 0, 0
    for j in range(J_FIRST, J_LAST + 1):
        low, high, center = table_interval(j, end)
        x = (low + high) / 2 + (high - low) / 2 * np.cos(np.linspace(0, math.pi, 4001))  # Chebyshev nodes
        c0, c1 = float(f64(np.float64(center))), float(f64_derivative(np.float64(center)))
        about_zero = f64(low) * f64(high) <= 0 or abs(c0) < abs(c1) * (high - low) / 2
        if about_zero:
            # On or next to a zero of f (GELU' at -0.7518) C0 + C1 t would cancel, and t^2 Q's rounding be
            # a large part of a small value: about the zero instead (the float nearest it: C0 = f(c) is
            # then below 1e-8, in the low parts, and C0 + C1 t = C1 t is exact), t = x - c exact still.
            center = float(np.float32(brentq(f64, low - (high - low), high + (high - low))))
            c0, c1 = float(f64(np.float64(center))), float(f64_derivative(np.float64(center)))
        t, f = x - center, f64(x)
        keep = t != 0
        target = (f[keep] - c0 - c1 * t[keep]) / t[keep] ** 2
        weight = t[keep] ** 2 / np.maximum(np.abs(f[keep]), floor)
        powers = np.vander(t[keep], degree - 1, increasing=True)
        lawson, best = np.ones_like(target), None
        for _ in range(200):
            scale = np.sqrt(lawson) * weight
            q, *_ = np.linalg.lstsq(powers * scale[:, None], target * scale, rcond=None)
            error = np.abs(powers @ q - target) * weight
            if best is None or error.max() < best[0]:
                best = (error.max(), q)
            lawson = lawson * (error + 1e-300)
            lawson /= lawson.sum()
        c0_pair = (np.float32(0), np.float32(c0)) if about_zero else split32(c0)
        row = [np.float32(center), *c0_pair, *split32(c1), *map(np.float32, best[1])]
        rows[:, j % TABLE_LANES] = row
        # The interval's ends and a million random float32 inside (and, about 0, every power of 2 down
        # to the smallest normal: the kernel sends subnormals to the double lanes), through the kernel.
        ends = np.array([low, high], np.float32)
        tiny = np.float32(2.0) ** -np.arange(1, 127, dtype=np.float32) if j == 0 else np.zeros(0, np.float32)
        inside = np.random.default_rng(j - J_FIRST).uniform(low, high, 1_000_000).astype(np.float32)
        xs = np.concatenate([inside, ends, np.nextafter(ends, ends[::-1]), tiny, -tiny])
        picked = np.clip(np.trunc(xs.astype(np.float64) * 4), J_FIRST, J_LAST) == j
        xs = xs[picked & (xs > TABLE_LOW) & (xs <= end)]
        exact = f64(xs.astype(np.float64))
        ulp = 2.0 ** (np.floor(np.log2(np.maximum(np.abs(exact), floor))) - 23)
        assert np.all(xs.astype(np.float64) - row[0] == (xs - row[0]).astype(np.float64)), f"t inexact (j = {j})"
        fast_two_sum = row[1] == 0 or np.all(np.abs(row[1]) >= np.abs(row[3] * (xs - row[0])))
        assert fast_two_sum, f"Fast2Sum: |C0| < |C1 t| (j = {j})"
        got, got_lo = table_kernel(xs, row)
        errors = np.abs(got.astype(np.float64) - exact) / ulp
        worst = max(worst, errors.max())
        # A product with (hi + lo) rounded once (GeGLU's by up, the backward's by grad): the pair's error,
        # relative, in ulps of a product whose significand may be up to 2 / (the value's) times larger,
        # plus 0.5.
        pair_errors = np.abs(got.astype(np.float64) + got_lo - exact) / ulp
        significand = np.maximum(np.abs(exact), floor) / 2.0 ** np.floor(np.log2(np.maximum(np.abs(exact), floor)))
        worst_product = max(worst_product, 0.5 + (pair_errors * 2 / significand).max())
        misrounded += int((got != exact.astype(np.float32)).sum())
        samples += len(xs)
        print(
            f"j = {j:3d}, x in [{low:6.3f}, {high:6.3f}]: fit {best[0]:.2e}, "
            f"kernel {errors.max():.3f} ulp at x = {xs[errors.argmax()]:.6g}"
        )
    print(f"largest error of the float32 kernel: {worst:.3f} ulp; not correctly rounded: {misrounded / samples:.2%}")
    print(f"bound on a product with the pair rounded once (GeGLU's by up, grad): {worst_product:.3f} ulp")
    names = ["middle c", "C0 high", "C0 low", "C1 high", "C1 low"] + [f"C{k}" for k in range(2, degree + 1)]
    print(f"alignas(64) constexpr float {name}[{degree + 4}][{TABLE_LANES}] = {{")
    for label, values in zip(names, rows):
        literals = ", ".join(float(v).hex().replace("0000000p", "p") + "f" if v else "0.0f" for v in values)
        print(f"    // {label}")
        print(textwrap.fill(f"{{{literals}}},", 112, initial_indent="    ", subsequent_indent="     "))
    print("};")


def gelu_table(degree: int = 7) -> None:
    # (The kernel then gives the result x's sign, which changes only GELU(-0).)
    fit_table("kGeluTable", gelu64, gelu_derivative64, 5.5, degree, 0.0)


def gelu_derivative_table(degree: int = 8) -> None:
    fit_table("kGeluDerivativeTable", gelu_derivative64, gelu_second_derivative64, 6.25, degree, DERIVATIVE_FLOOR)


def gelu_below(degree: int = 6) -> None:
    s = np.linspace(1 / 256, 1 / 16, 40001)
    a = 1 / np.sqrt(s)
    f = math.sqrt(math.pi / 2) * a * erfcx(a / math.sqrt(2.0))
    g = (1 - f) / s  # 1 - f cancels about 8 of float64's 53 bits at s = 1/256
    worst, p, _ = fit(s, g, degree)
    rounded = [np.float32(c) for c in p]
    error = np.abs((1 - s * (np.vander(s, degree + 1, increasing=True) @ np.float64(rounded))) - f) / f
    print(f"G of degree {degree}: max relative error {worst:.3g}; F = 1 - s G, G rounded to float: {error.max():.3g}")
    literals = ", ".join(float(c).hex().replace("0000000p", "p") + "f" for c in rounded[::-1])
    print("G, Horner from the highest power:", literals)


if __name__ == "__main__":
    targets = {
        "tail": tail,
        "exp": exp,
        "gelu-table": gelu_table,
        "gelu-derivative-table": gelu_derivative_table,
        "gelu-below": gelu_below,
    }
    if len(sys.argv) < 2 or sys.argv[1] not in targets:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(targets)} [degrees...]")
    targets[sys.argv[1]](*(int(v) for v in sys.argv[2:]))

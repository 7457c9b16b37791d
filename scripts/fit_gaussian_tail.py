"""Fit the rational approximation of the Gaussian tail used by csrc/activation_math.h, and report its error.

    python scripts/fit_gaussian_tail.py [numerator degree] [denominator degree]   (default 6 7)

Fits P(a) / Q(a) ~ Phi(-a) = 0.5 erfc(a / sqrt 2) on [0, 5.7] with Q(0) = 1 for least maximum
absolute error: linearized least squares P - h Q (Sanathanan-Koerner reweighting by 1 / Q) with
Lawson's weights pushing towards minimax. Then evaluates GELU with the float32-rounded coefficients
in float32 (FMA Horner, as the kernels do) against float64 on [-9, 9].
"""

import math
import sys

import numpy as np

END = 5.7  # past it the tail is below 6.2e-9 and the kernels return 0


def fit(numerator: int, denominator: int, iterations: int = 200):
    a = np.linspace(0.0, END, 20001)
    tail = np.array([0.5 * math.erfc(v / math.sqrt(2.0)) for v in a])
    powers = np.vander(a, max(numerator, denominator) + 1, increasing=True)
    weights, previous_q, best = np.ones_like(a), np.ones_like(a), None
    for _ in range(iterations):
        system = np.hstack([powers[:, : numerator + 1], -tail[:, None] * powers[:, 1 : denominator + 1]])
        scale = (weights / np.abs(previous_q))[:, None]
        solution, *_ = np.linalg.lstsq(system * scale, tail * scale[:, 0], rcond=None)
        p, q = solution[: numerator + 1], np.concatenate([[1.0], solution[numerator + 1 :]])
        previous_q = powers[:, : denominator + 1] @ q
        error = powers[:, : numerator + 1] @ p / previous_q - tail
        if best is None or np.abs(error).max() < best[0]:
            best = (np.abs(error).max(), p, q)
        weights = weights * (np.abs(error) + 1e-20)
        weights /= weights.sum()
    return best


def horner32(coefficients, a):
    result = np.full_like(a, np.float32(coefficients[-1]))
    for c in coefficients[-2::-1]:  # fused multiply-add: one rounding per step
        result = (result.astype(np.float64) * a + np.float32(c)).astype(np.float32)
    return result


def gelu_error(p, q) -> tuple[float, float]:
    x = np.linspace(-9, 9, 3_000_001).astype(np.float32)
    a = np.abs(x)
    tail = np.where(a > np.float32(END), np.float32(0), (horner32(p, a) / horner32(q, a)).astype(np.float32))
    # As gelu_forward: x > 0 gives fma(-x, tail, x) (one rounding), x <= 0 gives x * tail.
    positive = np.where(tail == 0, x, (x.astype(np.float64) - x.astype(np.float64) * tail).astype(np.float32))
    y = np.where(x > 0, positive, (x * tail).astype(np.float32))
    exact = np.array([v * 0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x.astype(np.float64)])
    error = np.abs(y.astype(np.float64) - exact)
    return float(error.max()), float(x[error.argmax()])


if __name__ == "__main__":
    numerator, denominator = (int(v) for v in sys.argv[1:3]) if len(sys.argv) > 2 else (6, 7)
    worst, p, q = fit(numerator, denominator)
    print(f"max |P/Q - tail| on [0, {END}]: {worst:.3g}")
    print("P (a^0 first):", ", ".join(f"{c:.9e}" for c in p))
    print("Q (a^0 first):", ", ".join(f"{c:.9e}" for c in q))
    print("min Q on [0, 20]:", float((np.vander(np.linspace(0, 20, 20001), len(q), increasing=True) @ q).min()))
    print("float32 GELU max error %.3g at x = %.6g" % gelu_error(p, q))

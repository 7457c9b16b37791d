"""How close is close enough: the tolerance table, each element's error against the float64 reference and what the
table allows there, and the agreement of a whole output."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float


# An output passes where |actual - reference| <= atol + rtol * |reference|, the reference being
# float64 GELU of the dtype-rounded input. rtol covers rounding of the result and of the math
# (GELU's slope is at most 1.13, so input rounding does not amplify); atol covers results near 0 and
# the negative tail, where |GELU(x)| is tiny and the float math has only absolute accuracy
# (1 + erf cancels there, in F.gelu too).
TOLERANCES = {
    # ~450 ulp: libm erf/erfc/exp of different libraries (CPU, CUDA) differ by a few ulp each.
    torch.float64: Tolerance(atol=1e-13, rtol=1e-13),
    # atol 16 ulp of 1.0: F.gelu(approximate='tanh') flushes its backward to 0 below x ~ -5, where
    # the derivative is -1.03e-6. rtol ~8 ulp: F.gelu's own error reaches 1.3e-6 at x ~ 3.5 (3.7e-7
    # of the result). An error of 1e-5 anywhere still fails.
    torch.float32: Tolerance(atol=2e-6, rtol=1e-6),
    # 1 ulp of the result (eps = 2^-7); the float32 math inside adds next to nothing.
    torch.bfloat16: Tolerance(atol=1e-5, rtol=2.0**-7),
    # 1 ulp of the result (eps = 2^-10).
    torch.float16: Tolerance(atol=1e-5, rtol=2.0**-10),
}
# Relative errors are reported where |reference| >= this; below, only absolute error is meaningful.
REL_ERROR_FLOOR = 1e-3


@dataclass(frozen=True)
class Agreement:
    passed: bool
    max_abs_error: float
    max_rel_error: float
    at_input: float
    worst_input: float  # the input whose error exceeds its tolerance by the largest factor
    first_wrong: int = -1  # the flat index of the first element beyond tolerance, -1 if none
    first_wrong_value: float = math.nan  # what the implementation returned there


def error_and_allowed(
    actual: torch.Tensor, expected: torch.Tensor, dtype: torch.dtype, atol_scale: torch.Tensor | float = 1.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per element, flat and in float64 on the results' own device (a 2^28-element output is not copied
    to the host): the absolute error against the reference (nan or inf: infinitely wrong) and what
    TOLERANCES allows there. In place where it can: verified timing runs this after every block.

    atol_scale multiplies atol per element: a gradient grad * f'(x) carries f's absolute error
    times |grad|.
    """
    tolerance, info = TOLERANCES[dtype], torch.finfo(dtype)
    expected = expected.to(actual.device, torch.float64).flatten()
    error = actual.detach().to(torch.float64, copy=True).flatten().sub_(expected).abs_()
    error.nan_to_num_(nan=math.inf, posinf=math.inf)
    # Plus the spacing of the dtype's subnormals: a result below them is off by up to half of it
    # even when correctly rounded (a float16 gradient of 4.7e-8 can only be 0 or 6.0e-8).
    allowed = expected.abs().mul_(tolerance.rtol).add_(info.smallest_normal * info.eps)
    if isinstance(atol_scale, torch.Tensor):
        allowed.add_(atol_scale.detach().to(actual.device).flatten(), alpha=tolerance.atol)
    else:
        allowed.add_(tolerance.atol * atol_scale)
    return error, allowed


def other_inputs_scale(xs, k: int) -> torch.Tensor | float:
    """The magnitudes of every input but input k, multiplied (1.0 for an op of one input): what an
    absolute error made along input k is multiplied by in an op that is a product of factors (a gated
    op's act(gate) * up). atol_scale of the forward (k = 0) and, times |grad|, of input k's gradient."""
    scale = 1.0
    for j, x in enumerate(xs):
        if j != k:
            scale = x.detach().abs() * scale
    return scale


def first_beyond(error: torch.Tensor, allowed: torch.Tensor) -> int:
    """The flat index of the first element whose error exceeds what is allowed, -1 if none."""
    beyond = error > allowed
    return int(beyond.byte().argmax().item()) if beyond.any() else -1  # argmax: the first of equal maxima


def agreement(
    actual: torch.Tensor,
    expected: torch.Tensor,
    x: torch.Tensor,
    dtype: torch.dtype,
    atol_scale: torch.Tensor | float = 1.0,
) -> Agreement:
    """Compare an implementation's finite-input results with the float64 reference under TOLERANCES
    (error_and_allowed): pass or fail, the largest errors and where they happened."""
    error, allowed = error_and_allowed(actual, expected, dtype, atol_scale)
    if error.numel() == 0:
        return Agreement(True, 0.0, 0.0, math.nan, math.nan)
    expected, x = (
        expected.to(error.device, torch.float64).flatten(),
        x.detach().to(error.device, torch.float64).flatten(),
    )
    large = expected.abs() >= REL_ERROR_FLOOR
    relative = (error[large] / expected[large].abs()).max().item() if large.any() else 0.0
    first = first_beyond(error, allowed)
    return Agreement(
        passed=first < 0,
        max_abs_error=error.max().item(),
        max_rel_error=relative,
        at_input=x[error.argmax()].item(),
        worst_input=x[(error / allowed).argmax()].item(),
        first_wrong=first,
        first_wrong_value=actual.flatten()[first].item() if first >= 0 else math.nan,
    )


# ---- ULP budgets: what `opbench accuracy` holds every implementation to ----------------------------


@dataclass(frozen=True)
class UlpBudget:
    ulp: float  # the largest error allowed, in ulps of the dtype at the reference
    reason: str


# The rule. Where the correctly rounded result is normal (or zero) and the function computed (f
# forward, f' backward) is well-conditioned at x, |x g'(x) / g(x)| <= CONDITION_LIMIT, the error is at
# most the budget below. Next to a zero of g away from x = 0 (GELU' at x = -0.7518, SiLU' at -1.2785,
# GELU-tanh' near -0.752) pieces of size ~0.2, each correctly rounded, cancel to a tiny g: millions of
# ulps of g are unavoidable in the dtype there, so those results are held to an absolute budget of
# NEAR_ZERO_BUDGET ulp(1.0) instead. Subnormal results are counted (and flushes) but not judged: flush to
# zero is a hardware mode. A nan or inf where a number belongs (or the reverse) is always over budget.
CONDITION_LIMIT = 2.0**8
NEAR_ZERO_BUDGET = 2.0
# Keyed by (op, dtype, direction); "*" is every op without an entry of its own (a plugin op may add one).
ULP_BUDGETS = {
    ("*", "float32", "fwd"): UlpBudget(1.0, "faithful rounding, what LLVM libc asks of its float functions"),
    ("*", "float32", "bwd"): UlpBudget(2.0, "f' is a sum of two rounded terms (GELU: Phi + x phi)"),
    # The 16-bit dtypes: float32 math rounded once to the dtype is within 0.5 ulp plus 2^-13 of one.
    ("*", "bfloat16", "fwd"): UlpBudget(1.0, "float32 math rounded once: faithful at least"),
    ("*", "bfloat16", "bwd"): UlpBudget(2.0, "as float32's backward"),
    ("*", "float16", "fwd"): UlpBudget(1.0, "float32 math rounded once: faithful at least"),
    ("*", "float16", "bwd"): UlpBudget(2.0, "as float32's backward"),
}


def ulp_budget(op: str, dtype: str, direction: str) -> UlpBudget:
    """The ULP_BUDGETS entry for an op (else every op's), dtype name and direction; the gradient of a
    later input ("bwd up") is held to its op's entry for it, else to the backward's."""
    for key in ((op, dtype, direction), ("*", dtype, direction), (op, dtype, direction.split()[0])):
        if key in ULP_BUDGETS:
            return ULP_BUDGETS[key]
    return ULP_BUDGETS["*", dtype, direction.split()[0]]

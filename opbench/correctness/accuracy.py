"""Accuracy in ULPs over every input: each implementation's forward and backward against the op's float64 reference,
error counted in units in the last place of the dtype.

The error of a result y for input x is |y - f(x)| / ulp(f(x)): f(x) the float64 reference,
unrounded, and ulp the spacing of the dtype's floats at f(x) (below the smallest normal, the
subnormal spacing). A correctly rounded result is at most 0.5 ulp off. A nan or inf where the
reference is a number, or a number where it is nan or inf, is infinitely wrong. Inputs: every finite
bit pattern of bfloat16 and float16; in float32 by default every pattern whose low STRATIFIED_BITS
bits equal one fixed pseudo-random pattern (2^22 inputs over every binade; a zero pattern would read
too accurate: short significands round less), or all 2^32 with inputs="all", in chunks, the float64
reference computed once per chunk for every implementation. Each row is held to its ULP budget
(correctness/tolerance.py, ULP_BUDGETS and the rule near a zero of the function): over it, the row is
`deviating`. float64 has no higher-precision reference here and is out of scope. docs/methodology.md,
"Accuracy in ULPs".
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

from opbench.core import IMPLEMENTATION_ERRORS, Status, describe
from opbench.correctness.tolerance import CONDITION_LIMIT, NEAR_ZERO_BUDGET, UlpBudget, ulp_budget
from opbench.reporting import results
from opbench.spec.devices import dtype_name
from opbench.spec.registry import Implementation, settings

KEY = ["op", "implementation", "device", "dtype", "direction", "inputs"]
DTYPES = (torch.bfloat16, torch.float16, torch.float32)
DIRECTIONS = ("fwd", "bwd")  # bwd: the input gradient for an upstream gradient of 1, i.e. f'(x)


def directions(op) -> tuple[str, ...]:
    """DIRECTIONS, then "bwd <input>" for each input of the op after its first (a gated op's "bwd up":
    d/dup = act(gate), along the gate with up = 1)."""
    return DIRECTIONS + tuple(f"bwd {name}" for name in op.inputs[1:])


STRATIFIED_BITS = 10  # float32's default inputs: 2^(32 - 10) patterns
STRATUM = 0x2A5  # their low bits: a fixed pattern, not zero
# float32 patterns per chunk: a chunk's float64 temporaries (2 MiB each) stay in the caches between the
# passes over them; chunks of 2^24 (128 MiB temporaries) ran 4x slower, memory bound.
CHUNK = 1 << 18
THRESHOLDS = (0.5, 1.0, 2.0, 4.0)  # ulp: the counts above each
SIGNIFICAND_BITS = {torch.bfloat16: 7, torch.float16: 10, torch.float32: 23}
BITS = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}
RELATIVE_STEP = 2.0**-20  # of the central difference behind the condition number
# The error-vs-x curve: the largest error per bin of x, by float32 bits (any dtype's x is a float32):
# eighths of a binade where |x| is in [2^FINE[0], 2^FINE[1]) (what activations bend in), whole binades
# elsewhere, both signs; only bins over CURVE_FLOOR ulp are kept (below: correctly rounded).
FINE = (-2, 8)
CURVE_BINS = 2 * 256 * 8
CURVE_FLOOR = 0.5


def ulp(reference: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The spacing of dtype's floats at each float64 value: 2^(exponent - significand bits), the
    exponent at least the smallest normal's (below it, the subnormals' fixed spacing). 2^exponent is the
    float64's exponent bits alone (its sign and significand masked off), a power of two scaled exactly."""
    spacing = 2.0 ** -SIGNIFICAND_BITS[dtype]
    power = (reference.view(torch.int64) & 0x7FF0000000000000).view(torch.float64)  # 2^floor(log2 |r|)
    return power.mul_(spacing).clamp_(min=torch.finfo(dtype).smallest_normal * spacing)


def ulp_error(actual: torch.Tensor, reference: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Per element, |actual - reference| / ulp(reference) in float64; 0 where both are the same nan or
    infinity, inf where one is a number and the other not."""
    actual, reference = actual.double(), reference.double()
    error = actual.sub(reference).abs_().div_(ulp(reference, dtype))
    finite = actual.isfinite() & reference.isfinite()
    if bool(finite.all()):
        return error
    same_nonfinite = (actual.isnan() & reference.isnan()) | (actual.isinf() & (actual == reference))
    return torch.where(finite, error, torch.where(same_nonfinite, 0.0, math.inf))


def curve_bin(x: torch.Tensor) -> torch.Tensor:
    """Each input's bin of the curve (CURVE_BINS of them): sign, float32 exponent and, inside FINE, the
    top three significand bits."""
    bits = x.float().view(torch.int32)
    sign, exponent, eighth = (bits >> 31) & 1, (bits >> 23) & 0xFF, (bits >> 20) & 7
    fine = (exponent >= 127 + FINE[0]) & (exponent < 127 + FINE[1])
    return (sign * 256 + exponent) * 8 + torch.where(fine, eighth, 0)


def bin_range(index: int) -> tuple[float, float]:
    """The inputs of a curve bin, from the smallest magnitude to the largest (subnormals: from 0)."""
    sign, exponent, eighth = index >> 11, (index >> 3) & 0xFF, index & 7
    fine = 127 + FINE[0] <= exponent < 127 + FINE[1]
    base = 0.0 if exponent == 0 else 2.0 ** (exponent - 127)
    low, high = (
        (base * (1 + eighth / 8), base * (1 + (eighth + 1) / 8)) if fine else (base, 2.0 ** max(exponent - 126, -126))
    )
    return (-low, -high) if sign else (low, high)


def curve_cells(maxima: torch.Tensor) -> list[tuple[float, float, float]]:
    """(low, high, max_ulp) of each curve bin over CURVE_FLOOR, by x."""
    bins = [int(i) for i in (maxima > CURVE_FLOOR).nonzero().squeeze(1)]
    return sorted((*bin_range(i), float(maxima[i])) for i in bins)


def condition(function, x: torch.Tensor) -> torch.Tensor:
    """|x g'(x) / g(x)| in float64 for a float64 function g, g' by a central difference of relative step
    RELATIVE_STEP; 0 where g and its difference both vanish (GELU at 0), inf at an exact zero of g."""
    x = x.double()
    difference = (function(x * (1 + RELATIVE_STEP)) - function(x * (1 - RELATIVE_STEP))).abs_()
    return difference.div_(function(x).abs_().mul_(2 * RELATIVE_STEP)).nan_to_num_(nan=0.0)


def patterns(dtype: torch.dtype, inputs: str = "default") -> list[tuple[int, int]]:
    """The input chunks as (first, count) of a range of indices (index_to_input turns them to floats)."""
    if dtype != torch.float32:
        return [(0, 1 << 16)]
    if inputs == "all":
        return [(start, CHUNK) for start in range(0, 1 << 32, CHUNK)]
    return [(start, CHUNK) for start in range(0, 1 << (32 - STRATIFIED_BITS), CHUNK)]


def index_to_input(first: int, count: int, dtype: torch.dtype, inputs: str = "default") -> torch.Tensor:
    """The finite floats of dtype for indices first .. first + count - 1: every bit pattern for
    16-bit dtypes and float32 with inputs="all", else (index << STRATIFIED_BITS) | STRATUM."""
    if dtype == torch.float32 and inputs == "all":  # a chunk never straddles the sign bit: signed patterns directly
        start = first - (1 << 32) if first >= 1 << 31 else first
        return _finite(torch.arange(start, start + count, dtype=torch.int32).view(dtype))
    index = torch.arange(first, first + count, dtype=torch.int64)
    if dtype == torch.float32:
        index = (index << STRATIFIED_BITS) | STRATUM
    width = torch.finfo(dtype).bits
    signed = torch.where(index >= 1 << (width - 1), index - (1 << width), index)  # two's complement
    return _finite(signed.to(BITS[dtype]).view(dtype))


def _finite(x: torch.Tensor) -> torch.Tensor:
    return x[x.isfinite()]


def inputs_label(dtype: torch.dtype, inputs: str) -> str:
    if dtype != torch.float32:
        return "every finite"
    return "every finite" if inputs == "all" else f"low {STRATIFIED_BITS} bits {STRATUM:#x}"


@dataclass
class ErrorStats:
    """ULP errors accumulated over chunks of inputs, for one implementation, dtype and direction, against
    the float64 `function` the reference values came from, under `budget`."""

    dtype: torch.dtype
    function: object
    budget: UlpBudget
    count: int = 0
    max_ulp: float = 0.0  # where the correctly rounded result is normal (or zero), away from a zero of g
    at_input: float = math.nan
    over: dict[float, int] = field(default_factory=lambda: dict.fromkeys(THRESHOLDS, 0))
    over_budget: int = 0  # results over the budget: ULP, absolute near a zero of g, or nan/inf
    near_zero: int = 0  # results over the ULP budget where g is ill-conditioned, judged in ulp(1.0)
    near_zero_max: float = 0.0  # their largest error, in ulp(1.0) of the dtype
    near_zero_at: float = math.nan
    subnormal_results: int = 0  # inputs whose correctly rounded result is a nonzero subnormal
    flushed: int = 0  # of those, results returned as zero
    sign_of_zero: int = 0  # a zero of the wrong sign where the correctly rounded result is a signed zero
    nonfinite: int = 0  # nan or inf where the reference is a number, or the reverse
    worst_nonfinite_input: float = math.nan
    curve: torch.Tensor = field(default_factory=lambda: torch.zeros(CURVE_BINS, dtype=torch.float64))

    def update(self, x: torch.Tensor, bins: torch.Tensor, actual: torch.Tensor, reference: torch.Tensor) -> None:
        """Add one chunk: its inputs, their curve bins (curve_bin, once per chunk), results and references."""
        info = torch.finfo(self.dtype)
        error = ulp_error(actual, reference, self.dtype)
        rounded = reference.to(self.dtype)  # the correctly rounded result
        magnitude = rounded.abs()
        subnormal = (magnitude < info.smallest_normal).logical_and_(magnitude != 0)
        self.count += x.numel()
        bad = error.isinf()  # ulp_error's inf: a nan or inf where a number belongs, or the reverse
        nonfinite = int(bad.sum())
        if nonfinite:
            self.nonfinite += nonfinite
            self.over_budget += nonfinite
            if math.isnan(self.worst_nonfinite_input):
                self.worst_nonfinite_input = float(x[bad][0])
        judged = error.masked_fill_(subnormal.logical_or_(bad), 0.0)  # normal (or zero) correct results only
        subnormal = (magnitude < info.smallest_normal).logical_and_(magnitude != 0)  # (the mask was reused)
        self._judge_near_zero(x, actual, reference, judged)
        self.curve.scatter_reduce_(0, bins, judged, "amax")
        if nonfinite:  # the worst error, on the curve too
            self.curve[bins[bad]] = math.inf
        worst = int(judged.argmax()) if judged.numel() else 0
        if judged.numel() and float(judged[worst]) > self.max_ulp:
            self.max_ulp, self.at_input = float(judged[worst]), float(x[worst])
        bins = torch.bucketize(judged, torch.tensor(THRESHOLDS, dtype=judged.dtype))  # bin k: above k thresholds
        above = torch.bincount(bins, minlength=len(THRESHOLDS) + 1).flip(0).cumsum(0).flip(0)
        for k, threshold in enumerate(THRESHOLDS):
            self.over[threshold] += int(above[k + 1])
        self.subnormal_results += int(subnormal.sum())
        zero_result = actual == 0
        self.flushed += int(subnormal.logical_and_(zero_result).sum())
        # The sign of a zero is known where the float64 reference is a number that rounds to 0, and at
        # x = +-0; where the reference itself underflowed (GELU below x = -38.5), its zero has no sign.
        signed = (reference != 0).logical_or_(x == 0)
        wrong_sign = (rounded.signbit() != actual.signbit()).logical_and_(zero_result).logical_and_(rounded == 0)
        wrong_sign.logical_and_(signed)
        self.sign_of_zero += int(wrong_sign.sum())

    def _judge_near_zero(self, x, actual, reference, judged: torch.Tensor) -> None:
        """The budget's rule on the results over the ULP budget: where g is ill-conditioned, the error
        in ulp(1.0) against NEAR_ZERO_BUDGET, and out of `judged`; elsewhere over budget. Only those
        results get a condition number (three reference evaluations each)."""
        candidates = (judged > self.budget.ulp).nonzero().squeeze(1)
        if not candidates.numel():
            return
        ill = condition(self.function, x[candidates]) > CONDITION_LIMIT
        self.over_budget += int((~ill).sum())
        near = candidates[ill]
        if not near.numel():
            return
        absolute = (actual[near].double() - reference[near]).abs_().div_(torch.finfo(self.dtype).eps)
        self.near_zero += near.numel()
        self.over_budget += int((absolute > NEAR_ZERO_BUDGET).sum())
        worst = int(absolute.argmax())
        if float(absolute[worst]) > self.near_zero_max:
            self.near_zero_max, self.near_zero_at = float(absolute[worst]), float(x[near[worst]])
        judged[near] = 0.0

    def row(self) -> dict:
        worst = math.inf if self.nonfinite else self.max_ulp
        return dict(
            count=self.count,
            max_ulp=self.max_ulp,
            at_input=self.at_input,
            worst_ulp=worst,
            **{f"over_{t:g}_ulp".replace(".", "_"): n for t, n in self.over.items()},
            budget_ulp=self.budget.ulp,
            over_budget=self.over_budget,
            near_zero=self.near_zero,
            near_zero_max=self.near_zero_max,
            near_zero_at=self.near_zero_at,
            subnormal_results=self.subnormal_results,
            flushed=self.flushed,
            sign_of_zero=self.sign_of_zero,
            nonfinite=self.nonfinite,
            nonfinite_at_input=self.worst_nonfinite_input,
            curve=results.curve_text(curve_cells(self.curve)),
        )

    def verdict(self) -> tuple[Status, str]:
        """OK within budget, else DEVIATING with what went over it."""
        if not self.over_budget:
            return Status.OK, ""
        parts = []
        if self.max_ulp > self.budget.ulp:
            parts.append(f"{self.max_ulp:.3g} ulp at x = {self.at_input:.6g} (budget {self.budget.ulp:g})")
        if self.near_zero_max > NEAR_ZERO_BUDGET:
            parts.append(f"{self.near_zero_max:.3g} ulp(1.0) at x = {self.near_zero_at:.6g} near a zero of g")
        if self.nonfinite:
            parts.append(f"{self.nonfinite} nan/inf, first at x = {self.worst_nonfinite_input:.6g}")
        return Status.DEVIATING, f"{self.over_budget} results over budget: " + "; ".join(parts)


def _results(impl: Implementation, x: torch.Tensor, device: str) -> dict[str, torch.Tensor]:
    """The implementation's forward and every input's gradient for an upstream gradient of 1, along the
    first input (Op.along), on the CPU, by direction (directions)."""
    x = x.to(device)
    with torch.no_grad():
        forward = impl(*impl.op.along(x))
    leaves = [v.detach().requires_grad_() for v in impl.op.along(x)]
    grads = torch.autograd.grad(impl(*leaves), leaves, torch.ones_like(x))
    return {"fwd": forward.detach().cpu(), **{d: g.cpu() for d, g in zip(directions(impl.op)[1:], grads)}}


class Interrupted(KeyboardInterrupt):
    """Ctrl-C during measure, with the rows of the chunks finished before it (inputs say how many)."""

    def __init__(self, rows: list[dict]):
        super().__init__()
        self.rows = rows


def measure(impls: list[Implementation], device: str, dtype: torch.dtype, inputs: str = "default") -> list[dict]:
    """One row per implementation (of one op) and direction: its ULP errors over the dtype's inputs, along
    the op's first input (Op.along: a gated op's activation, up = 1), each input's gradient its own
    direction (directions). Interrupted after a finished chunk: Interrupted, with the rows of the
    finished ones."""
    op = impls[0].op
    functions = {"fwd": lambda x: op.function(*op.along(x))}
    for direction, partial in zip(directions(op)[1:], op.partials):
        functions[direction] = lambda x, partial=partial: partial(*op.along(x))
    stats = {
        (impl.name, d): ErrorStats(dtype, functions[d], ulp_budget(op.name, dtype_name(dtype), d))
        for impl in impls
        for d in functions
    }
    failed: dict[str, str] = {}
    chunks = patterns(dtype, inputs)
    progress = tqdm(chunks, desc=f"accuracy {op.name} {dtype_name(dtype)}", unit="chunk", disable=inputs != "all")
    finished = 0
    try:
        for first, count in progress:
            x = index_to_input(first, count, dtype, inputs)
            references = {d: function(x.double()) for d, function in functions.items()}  # once for every impl
            bins = curve_bin(x).long()
            outputs = {}
            for impl in impls:
                if impl.name in failed:
                    continue
                try:
                    with settings([impl]):
                        outputs[impl.name] = _results(impl, x, device)
                except IMPLEMENTATION_ERRORS as error:  # its row, never the run's end
                    failed[impl.name] = describe(error)
            for name, got in outputs.items():  # after every call: Ctrl-C during the calls leaves the chunk out
                for direction in functions:
                    stats[name, direction].update(x, bins, got[direction], references[direction])
            finished += 1
    except KeyboardInterrupt:
        if not finished:
            raise
        label = f"{inputs_label(dtype, inputs)}: first {finished} of {len(chunks)} chunks"
        raise Interrupted(_rows(op, device, dtype, label, stats, failed)) from None
    return _rows(op, device, dtype, inputs_label(dtype, inputs), stats, failed)


def _rows(op, device: str, dtype: torch.dtype, label: str, stats: dict, failed: dict) -> list[dict]:
    rows = []
    for (name, direction), accumulated in stats.items():
        row = dict(op=op.name, implementation=name, device=device, dtype=dtype_name(dtype), direction=direction)
        row.update(inputs=label, status=Status.OK, detail="")
        if name in failed:
            row.update(status=Status.ERROR, detail=failed[name])
        else:
            status, detail = accumulated.verdict()
            row.update(accumulated.row(), status=status, detail=detail)
        rows.append(row)
    return rows

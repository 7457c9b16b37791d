"""Correctness of registered implementations against their op's float64 reference, as result rows.

Every implementation meets the same checks, per device and dtype, declared once in CHECKS:
  forward    agreement with the reference on seeded random inputs at several scales
  backward   input gradients (upstream gradient x f') against the reference
  contract   a fresh output, the input untouched, the same bits for the same input, no stale results
  edges      agreement on each dtype's edge values (zeros, subnormals, tails, largest finite) and the op's own
  limits     f(+-inf), f(nan) and the derivative there, as the op declares them
  (edges and limits report deviations; they fail a run only when strict: F.gelu itself deviates)
  layouts    strided, transposed, misaligned, 0-dim, empty and 3-d inputs give what contiguous copies give
  gradcheck  torch.autograd.gradcheck in float64
  opcheck    torch.library.opcheck on each custom op behind the implementation
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from opbench.core import IMPLEMENTATION_ERRORS, Status, describe, naming_threads_left
from opbench.correctness.tolerance import agreement
from opbench.spec import inputs
from opbench.spec.devices import dtype_name
from opbench.spec.registry import Implementation, settings

KEY = ["op", "implementation", "device", "dtype", "check"]
# What an implementation must pass before it is timed or trained.
GATE = ("forward", "backward", "contract")
# Checks whose mismatches are reported as deviating, failing a run only when strict.
DEVIATION_CHECKS = ("edges", "limits")


RANDOM_NUMEL = 1 << 15


@dataclass
class CheckResult:
    op: str
    implementation: str
    device: str
    dtype: str
    check: str
    status: Status  # PASS, FAIL, DEVIATING or UNAVAILABLE
    max_abs_error: float = math.nan
    max_rel_error: float = math.nan
    at_input: float = math.nan  # the input where the largest absolute error happened
    detail: str = ""


def _check_output(name: str, output: torch.Tensor, x: torch.Tensor) -> None:
    """Raise when an output does not look like its input: dtype, shape, device."""
    for attribute in ("dtype", "shape", "device"):
        got, want = getattr(output, attribute), getattr(x, attribute)
        if got != want:
            raise AssertionError(f"{name} has {attribute} {got}, expected {want}")


@dataclass(frozen=True)
class Outcome:
    """What one check found: its status, what was wrong (empty when nothing), and the errors it measured."""

    status: Status
    detail: str = ""
    max_abs_error: float = math.nan
    max_rel_error: float = math.nan
    at_input: float = math.nan


def _verdict(problems: list[str], failure: Status = Status.FAIL) -> Outcome:
    return Outcome(failure if problems else Status.PASS, "; ".join(problems))


def _agreement_verdict(
    kind: str,
    actual: torch.Tensor,
    expected: torch.Tensor,
    x: torch.Tensor,
    dtype,
    atol_scale: torch.Tensor | float = 1.0,
    failure: Status = Status.FAIL,
) -> Outcome:
    result = agreement(actual, expected, x, dtype, atol_scale)
    detail = (
        ""
        if result.passed
        else (
            f"{kind} error {result.max_abs_error:.3g} at x = {result.at_input:.6g}; "
            f"furthest beyond tolerance at x = {result.worst_input:.6g}"
        )
    )
    return Outcome(
        Status.PASS if result.passed else failure, detail, result.max_abs_error, result.max_rel_error, result.at_input
    )


def check_forward(impl: Implementation, dtype: torch.dtype, device: str, numel: int = RANDOM_NUMEL) -> Outcome:
    part = -(-numel // len(inputs.SCALES))
    parts = [inputs.random_input(part, dtype, device, scale, seed) for seed, scale in enumerate(inputs.SCALES)]
    x = torch.cat(parts)
    expected = impl.op.expected(x)  # before the call: an implementation may scribble on x
    y = impl(x)
    _check_output("output", y, x)
    return _agreement_verdict("forward", y, expected, x, dtype)


def check_backward(impl: Implementation, dtype: torch.dtype, device: str, numel: int = RANDOM_NUMEL) -> Outcome:
    x = inputs.random_input(numel, dtype, device, scale=3.0, seed=10).requires_grad_()
    grad = inputs.random_input(numel, dtype, device, scale=1.0, seed=11)
    expected = impl.op.expected_grad(grad, x.detach())
    impl(x).backward(grad)
    _check_output("input gradient", x.grad, x)
    return _agreement_verdict("gradient", x.grad, expected, x.detach(), dtype, atol_scale=grad.abs())


CONTRACT_NUMEL = 4099  # odd: vector bodies and scalar tails both run


def _first_difference(a: torch.Tensor, b: torch.Tensor) -> int | None:
    """The first flat index where a and b differ bitwise (nan equal to nan), None if none."""
    differ = (a != b) & ~(a.isnan() & b.isnan())
    return int(differ.flatten().nonzero()[0].item()) if differ.any() else None


def check_contract(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    """The call contract, each violation named: a fresh output of the input's shape, dtype and device;
    the input left as it was (values and version counter); the same bits for the same input, called
    twice and after a call on another input; and a result that follows the input's values, so that a
    result cached by pointer, version, shape or some of the values shows up. Independent of accuracy
    (that is the forward check's): it compares the implementation's results with each other."""
    a = inputs.random_input(CONTRACT_NUMEL, dtype, device, 3.0, seed=50)
    b = inputs.random_input(CONTRACT_NUMEL, dtype, device, 3.0, seed=51)
    positions = torch.randperm(CONTRACT_NUMEL, generator=torch.Generator().manual_seed(52))[:2].tolist()
    violations = []
    before, version = a.clone(), a._version
    first = impl(a)
    _check_output("output", first, a)
    if first.untyped_storage().data_ptr() == a.untyped_storage().data_ptr():
        violations.append("returns memory of its input, not a fresh output")
    changed = _first_difference(a, before)
    if changed is not None:
        violations.append(f"changed its input (element {changed})")
    elif a._version != version:
        violations.append("wrote into its input (its version counter moved)")
    a.data.copy_(before)  # the checks below start again from the original input
    again = _first_difference(impl(a), first)
    if again is not None:
        violations.append(f"differs between two calls on the same input (element {again}): nondeterministic")
    if _first_difference(impl(b), first) is None:
        violations.append(
            "returns the first input's result for a second input of the same shape (a result cached by shape?)"
        )
    after_other = _first_difference(impl(a), first)
    if after_other is not None:
        violations.append(f"returns another result for an input after a call on another input (element {after_other})")

    def moved(x: torch.Tensor, position: int) -> float:  # a value at least 3 away, so that f moves too
        return -4.0 if abs(x[position].item() - 4.0) < 1.0 else 4.0

    # New values in place, through an alias that leaves pointer, shape and version counter as they were.
    a.data[positions[0]] = moved(a, positions[0])
    if _first_difference(impl(a)[positions[0]], first[positions[0]]) is None:
        violations.append(
            "ignores a change of its input's values made in place (a result cached by pointer or version?)"
        )
    # A new tensor equal to the last input but for one element.
    last = impl(a)
    c = a.clone()
    c[positions[1]] = moved(c, positions[1])
    if _first_difference(impl(c)[positions[1]], last[positions[1]]) is None:
        violations.append(
            "returns a stale result for an input differing from the previous one in one element "
            "(a result cached by some of the values?)"
        )
    return _verdict(violations)


def check_edges(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    x = inputs.edge_input(dtype, device, impl.op.edge_values)
    y = impl(x)
    _check_output("output", y, x)
    return _agreement_verdict("edge", y, impl.op.expected(x), x, dtype, failure=Status.DEVIATING)


def check_limits(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    values = [value for value, _, _ in impl.op.limits]
    x = inputs.embed(values, dtype, device).requires_grad_()
    y = impl(x)
    y.backward(torch.ones_like(y))
    positions = x.detach().isinf() | x.detach().isnan()
    deviations = []
    for (value, limit, slope), got_values, got_slopes in zip(
        impl.op.limits, y.detach()[positions].reshape(len(values), -1), x.grad[positions].reshape(len(values), -1)
    ):
        for what, got, want in (("f", got_values, limit), ("f'", got_slopes, slope)):
            right = got.isnan() if math.isnan(want) else got.double() == want
            if not bool(right.all()):
                wrong = got[~right][0].item()
                deviations.append(f"{what}({value}) = {wrong}, expected {want}")
    return _verdict(deviations, Status.DEVIATING)


def check_layouts(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    """Each view's result against the result of its contiguous copy, within the dtype's tolerance
    (F.gelu itself takes a scalar path for strided inputs, so bitwise equality is too strict here)."""
    base = inputs.random_input(4099, dtype, device, scale=3.0, seed=20)
    mismatches = []
    for name, view in inputs.layouts(base).items():
        got, want = impl(view), impl(view.contiguous())
        if got.shape != view.shape:
            mismatches.append(f"{name} input of shape {tuple(view.shape)} gave shape {tuple(got.shape)}")
        elif not agreement(got, want, view, dtype).passed:
            mismatches.append(f"{name} input: result differs from that of a contiguous copy")
    return _verdict(mismatches)


def check_gradcheck(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    x = inputs.random_input(64, torch.float64, device, scale=3.0, seed=30).requires_grad_()
    passed = torch.autograd.gradcheck(impl, (x,), raise_exception=False)
    return _verdict([] if passed else ["analytical and numerical gradients differ"])


def check_opcheck(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    failures = []
    for position, op_name in enumerate(impl.custom_ops):
        namespace, name = op_name.split("::")
        op = getattr(getattr(torch.ops, namespace), name).default
        tensor_args = sum(1 for argument in op._schema.arguments if argument.type.kind() == "TensorType")
        args = [inputs.random_input(257, dtype, device, 3.0, seed=40 + k) for k in range(tensor_args)]
        # The forward op's input requires grad, so that opcheck also tests its autograd registration
        # and the backward graph under AOT dispatch; the backward op has no autograd formula.
        args = [arg.requires_grad_(position == 0) for arg in args]
        outcome = torch.library.opcheck(op, tuple(args), raise_exception=False)
        failures += [f"{op_name}: {test} {result}" for test, result in outcome.items() if result != "SUCCESS"]
    return _verdict(failures)


@dataclass(frozen=True)
class Check:
    """A check, declared once: its name (the check column), what it does, and when it applies."""

    name: str
    run: Callable[[Implementation, torch.dtype, str], Outcome]
    applies: Callable[[Implementation, torch.dtype], bool] = lambda impl, dtype: True


CHECKS = (
    Check("forward", check_forward),
    Check("backward", check_backward),
    Check("contract", check_contract),
    Check("edges", check_edges),
    Check("limits", check_limits),
    Check("layouts", check_layouts),
    Check("gradcheck", check_gradcheck, lambda impl, dtype: dtype == torch.float64),
    Check("opcheck", check_opcheck, lambda impl, dtype: bool(impl.custom_ops)),
)
CHECK_NAMES = tuple(check.name for check in CHECKS)


def _outcome(run: Callable[..., Outcome], *args) -> Outcome:
    try:
        return run(*args)
    except IMPLEMENTATION_ERRORS as error:  # a crash in an implementation is its failure, not the checker's
        return Outcome(Status.FAIL, describe(error))


def run_checks(impl: Implementation, device: str, dtypes=None, checks=CHECK_NAMES, sizes=()) -> list[CheckResult]:
    """Every applicable check named in `checks` of one implementation on one device, and forward and
    backward again at each of `sizes` elements (rows named like 'forward 2^24'); an exception is a failure."""
    dtypes = [d for d in (dtypes or impl.dtypes) if d in impl.dtypes]
    reason = impl.unavailable_reason(device)
    if reason:
        return [CheckResult(impl.op.name, impl.name, device, "-", "available", Status.UNAVAILABLE, detail=reason)]
    rows = []

    def row(dtype: torch.dtype, name: str, outcome: Outcome) -> CheckResult:
        return CheckResult(impl.op.name, impl.name, device, dtype_name(dtype), name, **dataclasses.asdict(outcome))

    with settings([impl]), naming_threads_left(impl.name):
        for dtype in dtypes:
            for check in CHECKS:
                if check.name in checks and check.applies(impl, dtype):
                    rows.append(row(dtype, check.name, _outcome(check.run, impl, dtype, device)))
            for numel in sizes:
                for name, function in (("forward", check_forward), ("backward", check_backward)):
                    outcome = _outcome(function, impl, dtype, device, numel)
                    rows.append(row(dtype, f"{name} {inputs.size_label(numel)}", outcome))
    return rows


def not_ready(impl: Implementation, device: str, dtype: torch.dtype) -> tuple[str, str] | None:
    """Why impl must not be timed or trained on device in dtype: (UNAVAILABLE, reason) or
    (FAILED_CHECK, what failed); None when it runs and passes the GATE checks."""
    reason = impl.unavailable_reason(device)
    if reason:
        return Status.UNAVAILABLE, reason
    failures = failed(run_checks(impl, device, [dtype], GATE))
    return (Status.FAILED_CHECK, f"{failures[0].check}: {failures[0].detail}") if failures else None


def failed(rows: list[CheckResult], strict: bool = False) -> list[CheckResult]:
    """The rows that make a check run fail: failures, and with strict, deviating limits too."""
    bad = {Status.FAIL, Status.DEVIATING} if strict else {Status.FAIL}
    return [row for row in rows if row.status in bad]

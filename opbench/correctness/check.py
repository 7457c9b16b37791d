"""Correctness of registered implementations against their op's float64 reference, as result rows.

Every implementation meets the same checks, per device and dtype, declared once in CHECKS:
  forward    agreement with the reference on seeded random inputs at several scales
  backward   each input's gradient (upstream gradient x its partial derivative) against the reference
  contract   a fresh output, the input untouched, the same bits for the same input, no stale results
  edges      agreement on each dtype's edge values (zeros, subnormals, tails, largest finite) and the op's own
  limits     f(+-inf), f(nan) and the derivative there, as the op declares them
  (edges and limits report deviations; they fail a run only when strict: F.gelu itself deviates)
  layouts    strided, transposed, misaligned, 0-dim, empty and 3-d inputs give what contiguous copies give, and
             so do an op's inputs side by side in one tensor (Implementation.concatenated)
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
from opbench.correctness.tolerance import agreement, other_inputs_scale
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
    parts = [impl.op.random_inputs(part, dtype, device, scale, seed) for seed, scale in enumerate(inputs.SCALES)]
    xs = [torch.cat(column) for column in zip(*parts)]
    expected = impl.op.expected(*xs)  # before the call: an implementation may scribble on its inputs
    y = impl(*xs)
    _check_output("output", y, xs[0])
    return _agreement_verdict("forward", y, expected, xs[0], dtype, other_inputs_scale(xs, 0))


def gradient_name(op, k: int) -> str:
    """How messages name input k's gradient: 'gradient', or 'gradient of up' for an op of several inputs."""
    return f"gradient of {op.inputs[k]}" if len(op.inputs) > 1 else "gradient"


def check_backward(impl: Implementation, dtype: torch.dtype, device: str, numel: int = RANDOM_NUMEL) -> Outcome:
    """Each input's gradient against the reference's partial derivative times the upstream gradient."""
    xs = [x.requires_grad_() for x in impl.op.random_inputs(numel, dtype, device, scale=3.0, seed=10)]
    grad = inputs.random_input(numel, dtype, device, scale=1.0, seed=11)
    expected = impl.op.expected_grads(grad, *(x.detach() for x in xs))
    impl(*xs).backward(grad)
    for k, x in enumerate(xs):
        _check_output(f"{gradient_name(impl.op, k)}", x.grad, x)
        scale = grad.abs() * other_inputs_scale(xs, k)
        outcome = _agreement_verdict(gradient_name(impl.op, k), x.grad, expected[k], xs[0].detach(), dtype, scale)
        if outcome.status != Status.PASS or k == len(xs) - 1:
            return outcome


CONTRACT_NUMEL = 4099  # odd: vector bodies and scalar tails both run


def _first_difference(a: torch.Tensor, b: torch.Tensor) -> int | None:
    """The first flat index where a and b differ bitwise (nan equal to nan), None if none."""
    differ = (a != b) & ~(a.isnan() & b.isnan())
    return int(differ.flatten().nonzero()[0].item()) if differ.any() else None


def check_contract(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    """The call contract, each violation named: a fresh output of the inputs' shape, dtype and device;
    the inputs left as they were (values and version counters); the same bits for the same inputs,
    called twice and after a call on other inputs; and a result that follows each input's values, so
    that a result cached by pointer, version, shape or some of the values of any input shows up.
    Independent of accuracy (that is the forward check's): it compares the implementation's results
    with each other."""
    op = impl.op
    a = list(op.random_inputs(CONTRACT_NUMEL, dtype, device, 3.0, seed=50))
    b = op.random_inputs(CONTRACT_NUMEL, dtype, device, 3.0, seed=51)
    positions = torch.randperm(CONTRACT_NUMEL, generator=torch.Generator().manual_seed(52))[:2].tolist()
    violations = []
    before, versions = [x.clone() for x in a], [x._version for x in a]
    first = impl(*a)
    _check_output("output", first, a[0])
    for name, x, original, version in zip(op.inputs, a, before, versions):
        which = f"its input {name}" if len(a) > 1 else "its input"
        if first.untyped_storage().data_ptr() == x.untyped_storage().data_ptr():
            violations.append(f"returns memory of {which}, not a fresh output")
        changed = _first_difference(x, original)
        if changed is not None:
            violations.append(f"changed {which} (element {changed})")
        elif x._version != version:
            violations.append(f"wrote into {which} (its version counter moved)")
        x.data.copy_(original)  # the checks below start again from the original inputs
    again = _first_difference(impl(*a), first)
    if again is not None:
        violations.append(f"differs between two calls on the same input (element {again}): nondeterministic")
    if _first_difference(impl(*b), first) is None:
        violations.append(
            "returns the first input's result for a second input of the same shape (a result cached by shape?)"
        )
    after_other = _first_difference(impl(*a), first)
    if after_other is not None:
        violations.append(f"returns another result for an input after a call on another input (element {after_other})")

    def moved(x: torch.Tensor, position: int) -> float:  # a value at least 3 away, so that f moves too
        return -4.0 if abs(x[position].item() - 4.0) < 1.0 else 4.0

    for k, name in enumerate(op.inputs):  # a result cached on any one input shows up when that input changes
        which = f" {name}" if len(a) > 1 else ""
        # New values in place, through an alias that leaves pointer, shape and version counter as they were.
        last = impl(*a)
        a[k].data[positions[0]] = moved(a[k], positions[0])
        if _first_difference(impl(*a)[positions[0]], last[positions[0]]) is None:
            violations.append(
                f"ignores a change of its input{which}'s values made in place (a result cached by pointer or version?)"
            )
        # A new tensor equal to the last input but for one element.
        last = impl(*a)
        changed = [x.clone() if j == k else x for j, x in enumerate(a)]
        changed[k][positions[1]] = moved(changed[k], positions[1])
        if _first_difference(impl(*changed)[positions[1]], last[positions[1]]) is None:
            violations.append(
                f"returns a stale result for an input{which} differing from the previous one in one element "
                "(a result cached by some of the values?)"
            )
    return _verdict(violations)


def check_edges(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    """The dtype's and the op's edge values, along the op's first input (Op.along)."""
    xs = impl.op.along(inputs.edge_input(dtype, device, impl.op.edge_values))
    y = impl(*xs)
    _check_output("output", y, xs[0])
    return _agreement_verdict("edge", y, impl.op.expected(*xs), xs[0], dtype, failure=Status.DEVIATING)


def check_limits(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    """f and f' (along the first input, Op.along) at +-inf and nan, as the op declares them."""
    values = [value for value, _, _ in impl.op.limits]
    x = inputs.embed(values, dtype, device).requires_grad_()
    y = impl(*impl.op.along(x))
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
    (F.gelu itself takes a scalar path for strided inputs, so bitwise equality is too strict here); every
    input in the view's layout at once; and the op's inputs as one tensor side by side (concatenated:
    for a gated op the strided halves of h.chunk(2, -1))."""
    op = impl.op
    bases = op.random_inputs(4099, dtype, device, scale=3.0, seed=20)
    views = [inputs.layouts(base) for base in bases]
    mismatches = []
    for name in views[0]:
        xs = [view[name] for view in views]
        got, want = impl(*xs), impl(*(x.contiguous() for x in xs))
        if got.shape != xs[0].shape:
            mismatches.append(f"{name} input of shape {tuple(xs[0].shape)} gave shape {tuple(got.shape)}")
        elif not agreement(got, want, xs[0], dtype, other_inputs_scale(xs, 0)).passed:
            mismatches.append(f"{name} input: result differs from that of a contiguous copy")
    side = 63
    h = torch.cat([base[: side * side].view(side, side) for base in bases], dim=-1)
    parts = h.chunk(len(op.inputs), -1)
    want = impl(*(part.contiguous() for part in parts))
    if not agreement(impl.concatenated(h), want, parts[0], dtype, other_inputs_scale(parts, 0)).passed:
        mismatches.append(
            f"concatenated input ({', '.join(op.inputs)} = h.chunk({len(op.inputs)}, -1)): result differs from "
            "that of contiguous copies"
        )
    return _verdict(mismatches)


def check_gradcheck(impl: Implementation, dtype: torch.dtype, device: str) -> Outcome:
    xs = [x.requires_grad_() for x in impl.op.random_inputs(64, torch.float64, device, scale=3.0, seed=30)]
    passed = torch.autograd.gradcheck(impl, tuple(xs), raise_exception=False)
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

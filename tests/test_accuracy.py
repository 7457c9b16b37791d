"""Accuracy in ULPs: the error measure at zero, the subnormal boundary and infinity, and the sweep over every input
finding deliberately wrong implementations at exactly the input where they are wrong."""

import math

import pytest
import torch

import opbench
from opbench import pipeline
from opbench.cli import main
from opbench.correctness import accuracy
from opbench.reporting import results

F32 = torch.float32


def test_ulp_is_the_spacing_of_the_dtype_at_the_reference():
    reference = torch.tensor([1.0, 1.5, 2.0, -3.0, 0.0, 1e-40, 2.0**-126], dtype=torch.float64)
    spacing = accuracy.ulp(reference, F32)
    assert spacing.tolist() == [2.0**-23, 2.0**-23, 2.0**-22, 2.0**-22, 2.0**-149, 2.0**-149, 2.0**-149]
    assert accuracy.ulp(torch.tensor([1.0], dtype=torch.float64), torch.bfloat16).item() == 2.0**-7


def test_ulp_error_across_zero_the_subnormal_boundary_and_infinity():
    reference = torch.tensor([0.0, 2.0**-126, 1.0, math.inf, -math.inf, math.nan, 1.0], dtype=torch.float64)
    actual = torch.tensor([-(2.0**-149), 2.0**-126 - 2.0**-149, 1.0 + 2.0**-23, math.inf, 0.0, math.nan, math.nan])
    assert accuracy.ulp_error(actual, reference, F32).tolist() == [1.0, 1.0, 1.0, 0.0, math.inf, 0.0, math.inf]


def correctly_rounded(x):
    """GELU as the float64 reference rounded to x's dtype: at most 0.5 ulp off everywhere."""
    return opbench.get_op("gelu").function(x.double()).to(x.dtype)


@pytest.fixture
def wrong(scratch_registry):
    """GELUs correctly rounded but for one thing, registered for the test; returns the one float32 input
    (of the default inputs, its GELU a normal float) where two of them are wrong."""
    x = accuracy.index_to_input(0, 1 << 22, F32)
    target = x[(x.abs() > 1) & (x.abs() < 2)][0].item()

    def one_ulp_off(x):  # the next float up at `target`
        y = correctly_rounded(x)
        return torch.where(x == target, torch.nextafter(y, torch.tensor(math.inf, dtype=y.dtype)), y)

    def nan_at_target(x):
        return torch.where(x == target, torch.tensor(math.nan, dtype=x.dtype), correctly_rounded(x))

    def flushes(x):  # subnormal results flushed to zero
        y = correctly_rounded(x)
        return torch.where(y.abs() < torch.finfo(x.dtype).smallest_normal, torch.zeros_like(y), y)

    for name, function in (
        ("correctly-rounded", correctly_rounded),
        ("one-ulp-off", one_ulp_off),
        ("nan-at-target", nan_at_target),
        ("flushes", flushes),
    ):
        opbench.register(name, function)
    return target


def test_a_one_ulp_error_is_found_at_exactly_its_input(wrong):
    rows = accuracy.measure([opbench.get("one-ulp-off"), opbench.get("correctly-rounded")], "cpu", F32)
    by = {(r["implementation"], r["direction"]): r for r in rows}
    off, honest = by["one-ulp-off", "fwd"], by["correctly-rounded", "fwd"]
    assert off["count"] == honest["count"] > 4_000_000 and honest["max_ulp"] <= 0.5 and honest["over_0_5_ulp"] == 0
    assert off["at_input"] == wrong and 0.5 < off["max_ulp"] <= 1.5 and off["over_0_5_ulp"] == 1
    ((low, high, ulps),) = results.curve_of(off["curve"])  # the curve: one bin over 0.5 ulp, around the input
    assert low <= wrong < high and ulps == pytest.approx(off["max_ulp"], rel=1e-3)
    assert honest["curve"] == "" and honest["status"] == "ok"


class UpGradientOneUlpOff(torch.autograd.Function):
    """SwiGLU correctly rounded in both directions, but for d/dup: the next float up where gate == TARGET."""

    target = math.nan

    @staticmethod
    def forward(ctx, gate, up):
        ctx.save_for_backward(gate, up)
        return opbench.get_op("swiglu").expected(gate, up).to(gate.dtype)

    @staticmethod
    def backward(ctx, grad):
        gate, up = ctx.saved_tensors
        d_gate, d_up = (g.to(gate.dtype) for g in opbench.get_op("swiglu").expected_grads(grad, gate, up))
        off = torch.nextafter(d_up, torch.tensor(math.inf, dtype=d_up.dtype))
        return d_gate, torch.where(gate == UpGradientOneUlpOff.target, off, d_up)


def test_each_input_of_a_gated_op_has_its_gradient_measured(wrong, monkeypatch):
    monkeypatch.setattr(UpGradientOneUlpOff, "target", wrong)
    opbench.register("up-gradient-off", UpGradientOneUlpOff.apply, op="swiglu")
    by = {r["direction"]: r for r in accuracy.measure([opbench.get("up-gradient-off", op="swiglu")], "cpu", F32)}
    assert set(by) == {"fwd", "bwd", "bwd up"}
    assert by["fwd"]["max_ulp"] <= 0.5 and by["bwd"]["max_ulp"] <= 0.5
    assert by["bwd up"]["at_input"] == wrong and 0.5 < by["bwd up"]["max_ulp"] <= 1.5
    assert by["bwd up"]["over_0_5_ulp"] == 1 and by["bwd up"]["budget_ulp"] == 2.0


def test_nan_where_a_number_belongs_is_the_worst_error(wrong):
    fwd = accuracy.measure([opbench.get("nan-at-target")], "cpu", F32)[0]
    assert fwd["nonfinite"] == 1 and fwd["nonfinite_at_input"] == wrong and fwd["worst_ulp"] == math.inf
    assert fwd["max_ulp"] <= 0.5  # everywhere else correctly rounded
    assert fwd["status"] == "deviating" and fwd["over_budget"] == 1 and "1 nan/inf" in fwd["detail"]
    assert results.curve_of(fwd["curve"])[0][2] == math.inf


def test_flushed_subnormal_results_are_counted(wrong):
    flushed, honest = (
        accuracy.measure([opbench.get(n)], "cpu", torch.float16)[0] for n in ("flushes", "correctly-rounded")
    )
    assert flushed["subnormal_results"] == honest["subnormal_results"] > 1000 and honest["flushed"] == 0
    assert flushed["flushed"] == flushed["subnormal_results"]


def test_every_16_bit_input_is_measured():
    x = accuracy.index_to_input(0, 1 << 16, torch.bfloat16)
    assert x.numel() == (1 << 16) - 2 * 127 - 2  # all but the 254 nans and the two infinities
    assert x.isfinite().all() and len(set(x.view(torch.int16).tolist())) == x.numel()


def test_every_float32_pattern_is_in_exactly_one_chunk():
    chunks = accuracy.patterns(F32, "all")
    assert sum(count for _, count in chunks) == 1 << 32 and chunks[0] == (0, accuracy.CHUNK)
    assert accuracy.index_to_input(*chunks[-1], F32, "all").numel() == 0  # .. 0xffffffff: negative nans
    (lowest,) = [c for c in chunks if c[0] <= 0xFF7FFFFF < c[0] + c[1]]  # the chunk ending at -FLT_MAX's pattern
    last = accuracy.index_to_input(*lowest, F32, "all")
    assert last[-1].item() == torch.finfo(F32).min and last.isfinite().all()
    first = accuracy.index_to_input(*chunks[0], F32, "all")
    assert first[0].item() == 0.0 and first[1].item() == 2.0**-149


def test_cli_writes_accuracy_rows(tmp_path):
    csv = tmp_path / "accuracy.csv"
    assert main(["accuracy", "--impl", "torch", "--impl", "cpp", "--dtype", "float16", "--csv", str(csv)]) == 0
    frame = results.load(csv)
    assert set(frame["kind"]) == {"accuracy"} and len(frame) == 4
    assert set(frame["direction"]) == {"fwd", "bwd"} and (frame["count"] == 63488).all()


GELU_SLOPE_ZERO = -0.7517915  # GELU'(x) = 0 here: Phi(x) = -x phi(x)


def test_the_condition_number_is_large_only_next_to_a_zero_of_the_function():
    derivative = opbench.get_op("gelu").derivative
    x = torch.tensor([GELU_SLOPE_ZERO + 1e-4, 1.0, -3.0, 0.0], dtype=torch.float64)
    kappa = accuracy.condition(derivative, x).tolist()
    assert kappa[0] > 2**12 and kappa[1] < 2 and kappa[2] < 16 and kappa[3] == 0.0


@pytest.mark.parametrize("absolute, verdict", [(1.5, "ok"), (3.0, "deviating")])
def test_the_budget_is_absolute_next_to_gelus_slope_zero(scratch_registry, absolute, verdict):
    """A backward correctly rounded but off by `absolute` ulp(1.0) where |x - x0| < 2^-10, x0 the zero of
    GELU': millions of ulps of the tiny derivative, judged in ulp(1.0) there (tolerance.ULP_BUDGETS' rule)."""
    op = opbench.get_op("gelu")

    class Shifted(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return op.function(x.double()).to(x.dtype)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            near = (x - GELU_SLOPE_ZERO).abs() < 2.0**-10
            slope = op.derivative(x.double()) + near * absolute * torch.finfo(x.dtype).eps
            return grad * slope.to(x.dtype)

    opbench.register("shifted-near-zero", Shifted.apply)
    fwd, bwd = accuracy.measure([opbench.get("shifted-near-zero")], "cpu", F32)
    assert fwd["status"] == "ok" and bwd["status"] == verdict and bwd["near_zero"] > 10
    assert absolute - 0.5 < bwd["near_zero_max"] <= absolute + 0.5 and bwd["max_ulp"] <= 2
    assert abs(bwd["near_zero_at"] - GELU_SLOPE_ZERO) < 2.0**-10


def test_an_interrupted_sweep_keeps_its_finished_chunks(scratch_registry, monkeypatch, tmp_path):
    monkeypatch.setattr(accuracy, "CHUNK", 1 << 20)
    calls = []

    def interrupted_on_the_third_chunk(x):
        calls.append(1)
        if len(calls) == 5:  # a chunk calls it twice (forward, then backward's forward)
            raise KeyboardInterrupt
        return correctly_rounded(x)

    opbench.register("interrupted", interrupted_on_the_third_chunk)
    csv = tmp_path / "accuracy.csv"
    with pytest.raises(KeyboardInterrupt):
        pipeline.accuracy([opbench.get("interrupted")], "cpu", [F32], "all", csv)
    frame = results.load(csv)
    assert len(frame) == 2 and (frame["count"] == 2 << 20).all()
    assert frame["inputs"].str.endswith("first 2 of 4096 chunks").all()


@pytest.mark.parametrize("op", ["gelu", "gelu-tanh", "silu", "swiglu", "geglu"])
def test_cpp_meets_every_ulp_budget(op):
    """cpp's forward and backward are within their ULP budgets in every dtype (float32 from double math
    or, for SiLU's values, float pairs: plain float math had left up to 372 ulp), nothing is flushed
    where the answer is a subnormal float, and zeros keep their sign."""
    impl = opbench.get("cpp", op=op)
    for dtype in accuracy.DTYPES:
        for row in accuracy.measure([impl], "cpu", dtype):
            assert row["status"] == "ok", row
            assert row["nonfinite"] == 0 and row["sign_of_zero"] == 0 and row["flushed"] == 0, row

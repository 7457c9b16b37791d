"""`cpp` and `cpp-composite`: the C++ extensions' ops for every op, their checks, errors and builds."""

import contextlib
import os
import subprocess
import sys

import pytest
import torch

import opbench
from opbench.core import UnavailableError
from opbench.correctness import accuracy, check, tolerance
from opbench.impls import build, cpp, custom_ops
from opbench.reporting import provenance
from opbench.spec import inputs
from opbench.spec.devices import FLOAT_DTYPES

ALL_DTYPES = FLOAT_DTYPES
OPS = cpp.KERNEL_OPS


@pytest.fixture(scope="module")
def fused():
    return opbench.get("cpp")


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_cpp_passes_every_check_strictly(op, dtype):
    rows = check.run_checks(opbench.get("cpp", op=op), "cpu", [dtype])
    assert {row.check for row in rows} == set(check.CHECK_NAMES) - ({"gradcheck"} if dtype != torch.float64 else set())
    assert check.failed(rows, strict=True) == [], rows


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_cpp_is_at_least_as_accurate_as_torch(op, direction):
    """Largest error against the float64 reference on the same inputs: cpp's at or below PyTorch's own, in
    float32 and the half types. (Not float64: there the reference rounds as often as the kernels do,
    and an ulp either way is the reference's as much as theirs.)"""
    for dtype in (torch.float32, torch.bfloat16, torch.float16):
        errors = [
            next(
                r.max_abs_error for r in check.run_checks(opbench.get(name, op=op), "cpu", [dtype], checks=(direction,))
            )
            for name in ("cpp", "torch")
        ]
        assert errors[0] <= errors[1], (dtype, errors)


@pytest.mark.parametrize("op", OPS)
def test_cpp_float32_errors_on_a_dense_grid_are_at_most_torchs(op):
    """The same comparison on 2^22 evenly spaced float32 inputs over [-14, 14], past the points where
    the float kernels clamp or flush (GELU's tail ends at 13.27), forward and backward."""
    x = torch.linspace(-14, 14, 1 << 22)
    spec = opbench.get_op(op)
    expected = spec.function(x.double()), spec.derivative(x.double())
    errors = {}
    for name in ("cpp", "torch"):
        leaf = x.clone().requires_grad_()
        y = opbench.get(name, op=op)(leaf)
        y.backward(torch.ones_like(y))
        errors[name] = [
            float((got.detach().double() - want).abs().max()) for got, want in zip((y, leaf.grad), expected)
        ]
    assert all(ours <= theirs for ours, theirs in zip(errors["cpp"], errors["torch"])), errors


@pytest.mark.parametrize("op", cpp.GATED_OPS)
def test_gated_products_stay_within_the_forward_budget_for_any_up(op):
    """`opbench accuracy` holds a gated op's other inputs at 1; here act(gate) * up, and d/dup = grad *
    act(gate) with grad in up's place, in float32 over seeded random pairs: gates down to -190 (where
    act(gate) is far below the normal floats but a large up brings the product back), ups from 2^-125 to
    2^125 (products just above the subnormals, and near overflow), judged where the float64 product is
    a normal float."""
    generator = torch.Generator().manual_seed(7)
    n = 1 << 20
    gate = torch.randn(n, generator=generator, dtype=torch.float64) * 10
    deep = -190 * torch.rand(n, generator=generator, dtype=torch.float64)
    gate = torch.where(torch.rand(n, generator=generator) < 0.3, deep, gate).float()
    magnitude = torch.exp2(250 * torch.rand(n, generator=generator, dtype=torch.float64) - 125)
    up = (magnitude * torch.randn(n, generator=generator, dtype=torch.float64).sign()).float()
    spec, impl = opbench.get_op(op), opbench.get("cpp", op=op)
    reference = spec.function(gate.double(), up.double())
    info = torch.finfo(torch.float32)
    judged = (reference.abs() >= info.smallest_normal) & (reference.abs() <= info.max)
    ones = torch.ones_like(gate).requires_grad_()
    impl(gate, ones).backward(up)  # d/dup = grad * act(gate), grad = up
    budget = tolerance.ulp_budget(op, "float32", "fwd").ulp
    for name, got in (("forward", impl(gate, up)), ("d/dup", ones.grad)):
        errors = accuracy.ulp_error(got[judged], reference[judged], torch.float32)
        worst = int(errors.argmax())
        assert float(errors[worst]) <= budget, (name, float(errors[worst]), gate[judged][worst], up[judged][worst])


@contextlib.contextmanager
def each_cpu_isa():
    """Every instruction set the extension dispatches to, each selected as the loop reaches it; the
    selection restored afterwards, whatever the test did."""
    selected = torch.ops.opbench.cpu_isa()

    def select():
        for isa in torch.ops.opbench.cpu_isas():
            torch.ops.opbench.set_cpu_isa(isa)
            yield isa

    try:
        yield select()
    finally:
        torch.ops.opbench.set_cpu_isa(selected)


def around(ends: torch.Tensor, count: int) -> torch.Tensor:
    """ends and the count float32 values on each side of each: where one of the tables' polynomials
    hands over to the next."""
    below, above, xs = ends, ends, [ends]
    for _ in range(count):
        below, above = torch.nextafter(below, below - 1), torch.nextafter(above, above + 1)
        xs += [below, above]
    return torch.cat(xs)


def test_gelu_float32_forward_is_within_budget_at_every_end_of_its_tables(fused):
    """On AVX-512 cpp computes GELU's float32 forward for x in (-4, 5.5] from one polynomial per interval
    (opbench/csrc/cpu_vector_runs.h), x itself above, every other x in double: the 2^12 float32 values on
    each side of every multiple of 1/4 from -5 to 4 and of 5.5, where one polynomial hands over to the
    next, to x or to the double lanes (subnormals among them), are within the forward budget in every
    instruction set."""
    ends = torch.cat([torch.arange(-20, 17, dtype=torch.float32) / 4, torch.tensor([5.5])])
    x = around(ends, 1 << 12)
    reference = opbench.get_op("gelu").function(x.double())
    judged = reference.abs() >= torch.finfo(torch.float32).smallest_normal
    with each_cpu_isa() as isas:
        for isa in isas:
            errors = accuracy.ulp_error(fused(x)[judged], reference[judged], torch.float32)
            worst = int(errors.argmax())
            assert float(errors[worst]) <= tolerance.ulp_budget("gelu", "float32", "fwd").ulp, (isa, x[judged][worst])


def test_gelu_float32_forward_below_its_tables_is_within_budget_for_every_input(fused):
    """Below the tables, x in [-16, -4], AVX-512 computes GELU in float lanes from exp(-x^2 / 2) and
    Mills' ratio (activation_math.h's gelu_below_tables): every one of those 2^24 float32 inputs, with
    the results that are subnormal (judged in their own spacing: nothing flushed), is within the forward
    budget in every instruction set, and below -16 the result is -0."""
    x = torch.arange(0xC0800000 - (1 << 32), 0xC1800000 - (1 << 32) + 1, dtype=torch.int64).int().view(torch.float32)
    reference = opbench.get_op("gelu").function(x.double())
    deeper = torch.tensor([-16.5, -100.0, -1e30, float("-inf")] + [-5.0] * 12)
    with each_cpu_isa() as isas:
        for isa in isas:
            errors = accuracy.ulp_error(fused(x), reference, torch.float32)
            worst = int(errors.argmax())
            assert float(errors[worst]) <= tolerance.ulp_budget("gelu", "float32", "fwd").ulp, (isa, x[worst])
            zero = fused(deeper)[:4]
            assert (zero == 0).all() and zero.signbit().all(), (isa, zero)


def test_gelu_float32_backward_is_within_budget_at_every_end_of_its_tables(fused):
    """On AVX-512 cpp computes GELU's float32 backward for x in (-4, 6.25] as grad times GELU''s own
    per-interval polynomial, a pair, rounded once (opbench/csrc/cpu_vector_runs.h), grad above, every
    other x in double: the 2^10 float32 values on each side of every multiple of 1/4 from -5 to 6.25 and
    of GELU''s zero (-0.7518, the middle of the two intervals next to it), and 2^18 uniform about the
    zero, each with a grad that puts the product just below a power of 2 (where the pair's error counts
    twice), are within the backward budget in every instruction set: in ulps where GELU' is
    well-conditioned, in ulp(1.0) times |grad| (NEAR_ZERO_BUDGET) next to its zero."""
    generator = torch.Generator().manual_seed(5)
    derivative = opbench.get_op("gelu").derivative
    zero = -0.7517915246935784  # GELU'(zero) = 0
    ends = torch.cat([torch.arange(-20, 26, dtype=torch.float32) / 4, torch.tensor([zero])])
    x = torch.cat([around(ends, 1 << 10), torch.empty(1 << 18).uniform_(-1.0, -0.5, generator=generator)])
    value = derivative(x.double())
    power = torch.exp2(torch.randint(-20, 20, x.shape, generator=generator).double())
    slack = 2 - 2.0**-12 * torch.rand(x.shape, generator=generator, dtype=torch.float64)
    grad = (slack * power / value.abs().clamp(min=1e-3)).float()
    reference = grad.double() * value
    ill = accuracy.condition(derivative, x) > tolerance.CONDITION_LIMIT
    budget = tolerance.ulp_budget("gelu", "float32", "bwd").ulp
    with each_cpu_isa() as isas:
        for isa in isas:
            result = torch.ops.opbench.gelu_backward(grad, x)
            errors = accuracy.ulp_error(result[~ill], reference[~ill], torch.float32)
            worst = int(errors.argmax())
            assert float(errors[worst]) <= budget, (isa, x[~ill][worst], float(errors[worst]))
            absolute = (result[ill].double() - reference[ill]).abs() / grad[ill].double().abs()
            assert float(absolute.max()) <= tolerance.NEAR_ZERO_BUDGET * torch.finfo(torch.float32).eps, isa


def test_geglu_float32_products_are_within_budget_where_the_tables_are_least_accurate():
    """GeGLU's float32 forward on AVX-512 multiplies the tables' GELU(gate), as a pair, by up and rounds
    once: the pair's error, relative, can take twice as many ulps in a product whose significand is
    larger than GELU's. Gates at every end of the tables' intervals and about -1/4 (the interval around
    0, where t^2 Q cancels against t / 2: the largest error), each with an up that puts the product just
    below a power of 2, are within the forward budget in every instruction set."""
    generator = torch.Generator().manual_seed(3)
    ends = torch.cat([torch.arange(-16, 17, dtype=torch.float32) / 4, torch.tensor([5.5])])
    gate = torch.cat([around(ends, 1 << 10), torch.empty(1 << 18).uniform_(-0.25, -0.2, generator=generator)])
    spec = opbench.get_op("geglu")
    act = spec.function(gate.double(), torch.ones_like(gate, dtype=torch.float64))
    gate, act = gate[act.abs() > 1e-30], act[act.abs() > 1e-30]
    power = torch.exp2(torch.randint(-20, 20, gate.shape, generator=generator).double())
    up = ((2 - 2.0**-12 * torch.rand(gate.shape, generator=generator, dtype=torch.float64)) * power / act.abs()).float()
    reference = spec.function(gate.double(), up.double())
    budget = tolerance.ulp_budget("geglu", "float32", "fwd").ulp
    with each_cpu_isa() as isas:
        for isa in isas:
            errors = accuracy.ulp_error(opbench.get("cpp", op="geglu")(gate, up), reference, torch.float32)
            worst = int(errors.argmax())
            assert float(errors[worst]) <= budget, (isa, float(errors[worst]), gate[worst], up[worst])


@pytest.mark.parametrize("op", ["gelu", "geglu"])
def test_out_may_be_an_input(op):
    """out= one of the inputs (TensorIterator allows it) gives the values of separate outputs, where the
    AVX-512 tables compute a block's outside lanes from its inputs after writing its outputs."""
    impl = opbench.get("cpp", op=op)
    x = inputs.random_input(10000, torch.float32, scale=8.0)
    x[5::16], x[7::48], x[9::96] = -8.0, float("nan"), 1e-40
    xs = [x, inputs.random_input(10000, torch.float32, seed=1)][: len(impl.op.inputs)]
    expected = impl(*xs)
    for k in range(len(xs)):
        operands = [t.clone() for t in xs]
        impl.forward_out(*operands, operands[k])
        assert torch.equal(operands[k].nan_to_num(7.0), expected.nan_to_num(7.0)), k


def test_backward_out_may_be_an_input(fused):
    """GELU's backward into grad or x itself (grad_input= one of its inputs) gives the values of a
    separate output, where the AVX-512 tables compute a block's outside lanes after writing its outputs."""
    x = inputs.random_input(10000, torch.float32, scale=8.0)
    x[5::16], x[7::48], x[9::96] = -8.0, float("nan"), 1e-40
    grad = inputs.random_input(10000, torch.float32, seed=1)
    grad[11::64] = 0.0
    expected = torch.ops.opbench.gelu_backward(grad, x)
    for k in range(2):
        operands = [grad.clone(), x.clone()]
        torch.ops.opbench.gelu_backward.out(*operands, grad_input=operands[k])
        assert torch.equal(operands[k].nan_to_num(7.0), expected.nan_to_num(7.0)), k


def test_gelu_float32_values_depend_on_their_own_input_alone():
    """A vector of inputs with some outside the tables' range (-4, 5.5] computes those in double and the
    others from the tables: each element's bits are the ones it has among inputs all inside the range
    (sending the whole vector to the double lanes would round some of them otherwise)."""
    gelu = opbench.get("cpp", op="gelu")
    x = inputs.random_input(1 << 16, torch.float32).clamp(-3.9, 5.4)
    mixed = x.clone()
    outside = torch.zeros_like(x, dtype=torch.bool)
    outside[5::16], outside[7::48], outside[9::96] = True, True, True
    mixed[5::16], mixed[7::48], mixed[9::96] = -8.0, float("nan"), 1e-40
    assert torch.equal(gelu(mixed)[~outside], gelu(x)[~outside])
    assert torch.equal(gelu(mixed[5::16]), gelu(torch.full((len(mixed[5::16]),), -8.0)))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
def test_composite_passes_in_full_precision(dtype):
    rows = check.run_checks(opbench.get("cpp-composite"), "cpu", [dtype])
    assert check.failed(rows) == [], rows


def test_the_python_op_list_names_exactly_the_ops_the_extension_declares():
    """cpp.KERNEL_OPS and GATED_OPS (which ops get a `cpp` implementation) and OPBENCH_ACTIVATIONS and
    OPBENCH_GATED in opbench/csrc/activation_math.h (which ops the extension declares) are two lists each; a
    functor added to one and not the other must not go unnoticed."""
    cpp.load_fused()
    declared = {
        name.split("::")[1].split(".")[0]
        for name in torch._C._dispatch_get_all_op_names()
        if name.startswith("opbench::")
    }
    ops = OPS + cpp.GATED_OPS
    activations = {f"{custom_ops.schema_name(op)}{suffix}" for op in ops for suffix in ("", "_backward")}
    assert declared == activations | {"cpu_isas", "cpu_isa", "set_cpu_isa"}  # and csrc/cpu_dispatch.cpp's


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.complex64])
def test_op_rejects_non_float_dtypes_by_name(fused, dtype):
    with pytest.raises(
        RuntimeError, match="opbench::gelu: expected a float32, float64, float16 or bfloat16 tensor, got"
    ):
        torch.ops.opbench.gelu(torch.zeros(4, dtype=dtype))


def test_backward_op_rejects_mismatched_arguments(fused):
    x = torch.zeros(4)
    with pytest.raises(RuntimeError, match=r"grad has shape \[3\] but x has shape \[4\]"):
        torch.ops.opbench.gelu_backward(torch.zeros(3), x)
    with pytest.raises(RuntimeError, match="grad is Double but x is Float"):
        torch.ops.opbench.gelu_backward(torch.zeros(4, dtype=torch.float64), x)


def test_out_overloads_write_into_the_given_tensor_bitwise_and_refuse_a_wrong_one(fused):
    x, grad = inputs.random_input(5000, torch.float32, scale=3.0), inputs.random_input(5000, torch.float32, seed=2)
    out, grad_input = torch.empty(5000), torch.empty(5000)
    assert fused.forward_out(x, out) is out and fused.backward_out(grad, x, grad_input) is grad_input
    assert torch.equal(out, torch.ops.opbench.gelu(x))
    assert torch.equal(grad_input, torch.ops.opbench.gelu_backward(grad, x))
    with pytest.raises(RuntimeError, match=r"opbench::gelu.out: out has shape \[4999\] but x has shape \[5000\]"):
        torch.ops.opbench.gelu.out(x, out=torch.empty(4999))
    with pytest.raises(RuntimeError, match="opbench::gelu_backward.out: out must be dense"):
        torch.ops.opbench.gelu_backward.out(grad, x, grad_input=torch.empty(10000)[::2])
    torch.library.opcheck(torch.ops.opbench.gelu.out, (x,), {"out": out})


@pytest.mark.parametrize("name", list(inputs.layouts(torch.zeros(4099))))
def test_layouts_equal_contiguous_copies_bitwise(fused, name):
    view = inputs.layouts(inputs.random_input(4099, torch.float32, scale=3.0))[name]
    y = fused(view)
    assert y.shape == view.shape
    assert torch.equal(y, fused(view.contiguous()))
    grad = torch.ones_like(view)
    assert torch.equal(
        torch.ops.opbench.gelu_backward(grad, view), torch.ops.opbench.gelu_backward(grad, view.contiguous())
    )


# Every element count the loops split differently: a parallel walk over chunks (above 2 x the grain of
# cpu_iteration.h), a strided view (element by element), and rows of 5 (each a contiguous run shorter
# than a vector: the scalar tails, float16's among them).
ISA_LAYOUTS = {
    "contiguous": lambda x: x,
    "strided": lambda x: x[::2],
    "rows of 5": lambda x: x[: x.numel() // 10 * 10].view(-1, 10)[:, :5],
}
BITS = {torch.float64: torch.int64, torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}
# Results an instruction set computes with other math, each within the budgets, by index among
# _values_and_gradients' (the value, then each input's gradient): GELU's float32 forward and backward
# and GeGLU's forward and d/dup = grad * GELU(gate) from AVX-512's tables (csrc/cpu_vector_runs.h; the
# tests above hold both forms to the budget).
OTHER_MATH = {("gelu", torch.float32): {0, 1}, ("geglu", torch.float32): {0, 2}}


def _values_and_gradients(op: str, dtype: torch.dtype, layout: str) -> list[torch.Tensor]:
    impl = opbench.get("cpp", op=op)
    specials = [*inputs.edge_values(dtype, impl.op.edge_values), float("inf"), -float("inf"), float("nan")]
    xs = [
        torch.cat([inputs.random_input(40000, dtype, scale=8.0, seed=seed), torch.tensor(specials, dtype=dtype)])
        .roll(seed)  # gate and up meet different specials
        .requires_grad_()
        for seed in range(len(impl.op.inputs))
    ]
    views = [ISA_LAYOUTS[layout](x) for x in xs]
    y = impl(*views)
    return [y.detach(), *torch.autograd.grad(y, xs, inputs.random_input(y.numel(), dtype, seed=7).view(y.shape))]


@pytest.mark.parametrize("op", cpp.KERNEL_OPS + cpp.GATED_OPS)
def test_every_instruction_set_computes_the_same_bits(fused, op, monkeypatch):
    """The loops of every instruction set the CPU runs (csrc/cpu_loops_<isa>.cpp) are the same math
    (but OTHER_MATH), explicit FMAs and one rounding each: the values and gradients of every dtype are the same bits
    (signed zeros included) in every layout the loops walk differently, and nan where the other is nan
    (IEEE 754 leaves a nan's sign and payload to the instruction that makes it)."""
    monkeypatch.delenv("OPBENCH_CPU_ISA", raising=False)
    isas, selected = list(torch.ops.opbench.cpu_isas()), torch.ops.opbench.cpu_isa()
    assert isas[-1] == "scalar" and len(isas) >= 2, isas
    try:
        for dtype in FLOAT_DTYPES:
            for layout in ISA_LAYOUTS:
                results = {}
                for isa in isas:
                    torch.ops.opbench.set_cpu_isa(isa)
                    results[isa] = _values_and_gradients(op, dtype, layout)
                for isa in isas[1:]:
                    for k, (ours, theirs) in enumerate(zip(results[isa], results[isas[0]], strict=True)):
                        if k in OTHER_MATH.get((op, dtype), ()) and "avx512" in (isa, isas[0]):
                            continue
                        nan = ours.isnan() | theirs.isnan()
                        differ = ((ours.view(BITS[dtype]) != theirs.view(BITS[dtype])) & ~nan).nonzero()
                        differ = torch.cat([differ, (ours.isnan() != theirs.isnan()).nonzero()])
                        assert len(differ) == 0, (isa, isas[0], dtype, layout, differ[:5].tolist())
    finally:
        torch.ops.opbench.set_cpu_isa(selected)


def test_opbench_cpu_isa_forces_the_loops_and_a_missing_one_is_one_line(fused, monkeypatch):
    selected = torch.ops.opbench.cpu_isa()
    try:
        monkeypatch.setenv("OPBENCH_CPU_ISA", "scalar")
        cpp.load_fused.cache_clear()
        cpp.load_fused()
        assert torch.ops.opbench.cpu_isa() == "scalar"
        assert provenance.provenance("cpu")["cpp_isa"] == "scalar"
        assert "OPBENCH_CPU_ISA=scalar" in provenance.settings()
    finally:
        torch.ops.opbench.set_cpu_isa(selected)
    monkeypatch.setenv("OPBENCH_CPU_ISA", "avx1024")
    cpp.load_fused.cache_clear()
    with pytest.raises(UnavailableError, match=r"^OPBENCH_CPU_ISA=avx1024: this CPU runs the loops in .*scalar only$"):
        cpp.load_fused()
    cpp.load_fused.cache_clear()
    assert torch.ops.opbench.cpu_isa() == selected
    with pytest.raises(RuntimeError, match="'avx1024' is not an instruction set this CPU runs"):
        torch.ops.opbench.set_cpu_isa("avx1024")


def test_torch_compile_fullgraph_over_the_op(fused):
    x = inputs.random_input(1000, torch.float32, scale=3.0).requires_grad_()
    compiled = torch.compile(lambda t: fused(t) * 2, fullgraph=True)
    y = compiled(x)
    (grad,) = torch.autograd.grad(y.sum(), x)
    x_eager = x.detach().requires_grad_()
    y_eager = fused(x_eager) * 2
    (grad_eager,) = torch.autograd.grad(y_eager.sum(), x_eager)
    assert torch.equal(y, y_eager) and torch.equal(grad, grad_eager)


def test_failed_build_gives_the_first_compiler_error(tmp_path):
    source = tmp_path / "broken.cpp"
    source.write_text("#include <torch/library.h>\nint broken() { return undeclared_name; }\n")
    with pytest.raises(
        build.BuildError, match=r"C\+\+ build failed: .*broken.cpp:2:.*error: .undeclared_name. was not declared"
    ):
        build.load_extension("opbench_broken_probe", (str(source),))


def _load_in_a_process(name: str, source, build_dir) -> subprocess.CompletedProcess:
    code = f"from opbench.impls import build; build.load_extension({name!r}, ({str(source)!r},))"
    env = {**os.environ, "OPBENCH_BUILD_DIR": str(build_dir)}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize("damage", ["truncated", "changed"])
def test_a_corrupt_library_in_the_build_cache_is_rebuilt_with_a_notice(tmp_path, damage):
    """A build killed while linking leaves a truncated library, which dlopen maps and faults on (SIGBUS)."""
    source = tmp_path / "fine.cpp"
    source.write_text('extern "C" int opbench_fine() { return 1; }\n')
    first = _load_in_a_process("opbench_integrity_probe", source, tmp_path / "cache")
    assert first.returncode == 0, first.stderr[-2000:]
    (library,) = (tmp_path / "cache").rglob("opbench_integrity_probe.so")
    whole = library.read_bytes()
    if damage == "truncated":
        library.write_bytes(whole[: len(whole) // 2])
        assert "truncated" in build.elf_problem(library)
    else:
        middle = len(whole) // 2
        library.write_bytes(whole[:middle] + bytes([whole[middle] ^ 0xFF]) + whole[middle + 1 :])
    again = _load_in_a_process("opbench_integrity_probe", source, tmp_path / "cache")
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"opbench: {library}: corrupt build (" in again.stderr and "rebuilding" in again.stderr
    assert library.read_bytes() == whole and build.elf_problem(library) is None


def test_build_clean_empties_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPBENCH_BUILD_DIR", str(tmp_path))
    (build.build_root() / "old").mkdir(parents=True)
    assert build.clean() == build.build_root() and not build.build_root().exists()


def test_missing_compiler_is_a_clear_reason(monkeypatch, tmp_path):
    monkeypatch.setenv("CXX", "no-such-compiler")
    source = tmp_path / "fine.cpp"
    source.write_text("int fine() { return 0; }\n")
    with pytest.raises(build.BuildError, match=r"no C\+\+ compiler \(no-such-compiler\)"):
        build.load_extension("opbench_no_compiler_probe", (str(source),))


def test_first_error_line_prefers_the_compiler_line():
    log = "Error building extension 'x': [1/2] c++ -c a.cpp\nFAILED: a.o\na.cpp:3:5: error: boom\nninja: build stopped"
    assert build.first_error_line(log) == "a.cpp:3:5: error: boom"


def test_sources_exist():
    for source in cpp.FUSED_SOURCES + cpp.COMPOSITE_SOURCES:
        assert (build.CSRC / source).is_file()


def test_cuda_toolkit_errors_are_clear(monkeypatch, tmp_path):
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    with pytest.raises(build.BuildError, match=f"CUDA_HOME={tmp_path} holds no include/cuda_runtime.h"):
        build.find_cuda_home()
    monkeypatch.delenv("CUDA_HOME")
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(build.glob, "glob", lambda pattern: [])
    monkeypatch.setattr(build, "_toolkit_root", lambda path: None)
    with pytest.raises(build.BuildError, match="nvcc and the CUDA headers were not found"):
        build.find_cuda_home()


def test_cuda_home_follows_an_nvcc_wrapper(monkeypatch, tmp_path):
    toolkit = tmp_path / "cuda-13.0"
    (toolkit / "include").mkdir(parents=True)
    (toolkit / "include" / "cuda_runtime.h").write_text("")
    (toolkit / "bin").mkdir()
    (toolkit / "bin" / "nvcc").write_text("")
    wrapper = tmp_path / "wrappers" / "bin"
    wrapper.mkdir(parents=True)
    (wrapper / "nvcc").write_text(f'#!/bin/sh\nexec {toolkit}/bin/nvcc "$@"\n')
    (wrapper / "nvcc").chmod(0o755)
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.setenv("PATH", str(wrapper))
    assert build.find_cuda_home() == str(toolkit)

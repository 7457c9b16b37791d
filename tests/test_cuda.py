"""`cuda`: the extension compiles everywhere, its index logic runs on the CPU, and on a GPU it passes every check."""

from pathlib import Path

import pytest
import torch

import opbench
from opbench.correctness import check, tolerance
from opbench.impls import build, cpp, cuda
from opbench.impls.custom_ops import schema_name
from opbench.spec import activations, inputs
from opbench.spec.devices import FLOAT_DTYPES
from opbench.static import sass
from tests.conftest import requires_cuda

SHIM = str(Path(__file__).parent / "csrc" / "grid_shim.cpp")
ODD_SIZES = [0, 1, 3, 7, 8, 9, 4095, 4097]
# (blocks, threads per block): one thread doing everything, odd counts, more threads than elements.
GRIDS = [(1, 1), (3, 5), (2, 256), (64, 128)]


@pytest.mark.slow
def test_cuda_extension_compiles_links_and_loads():
    """What `opbench build --cuda` does: nvcc compiles the kernel, g++ the binding, and the ops load."""
    cpp.load_fused()
    library = build.load_extension("opbench_cuda", cuda.SOURCES)
    assert Path(library).is_file()
    for op in ("gelu", "gelu_tanh", "silu"):
        for name in (op, f"{op}_backward", f"{op}.out", f"{op}_backward.out"):
            assert torch._C._dispatch_has_kernel_for_dispatch_key(f"opbench::{name}", "CUDA"), name


@pytest.fixture(scope="module")
def shim():
    build.load_extension("opbench_grid_shim", (SHIM,))
    return torch.ops.opbench_grid_shim


def _expect_close(actual, expected, x, dtype):
    result = tolerance.agreement(actual, expected, x, dtype)
    assert result.passed, result


@pytest.mark.parametrize("op", cpp.KERNEL_OPS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("size", ODD_SIZES)
@pytest.mark.parametrize("grid", GRIDS, ids=str)
def test_kernel_body_covers_every_element_of_every_op(shim, op, dtype, size, grid):
    spec, name = opbench.get_op(op), schema_name(op)
    x = inputs.random_input(size, dtype, scale=3.0)
    grad = inputs.random_input(size, dtype, seed=1)
    _expect_close(getattr(shim, name)(x, *grid), spec.expected(x), x, dtype)
    _expect_close(getattr(shim, f"{name}_backward")(grad, x, *grid), spec.expected_grads(grad, x)[0], x, dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=str)
@pytest.mark.parametrize("offset", [1, 3])
def test_kernel_body_on_misaligned_views(shim, dtype, offset):
    base = inputs.random_input(4097 + offset, dtype, scale=3.0)
    x = base[offset:]  # contiguous, but not 16-byte aligned: the scalar path
    assert x.data_ptr() % 16 != 0
    _expect_close(shim.gelu(x, 3, 64), activations.GELU.expected(x), x, dtype)
    grad = torch.ones_like(base)[:-offset]  # aligned grad with a misaligned x: scalar path too
    _expect_close(shim.gelu_backward(grad, x, 3, 64), activations.GELU.expected_grads(grad, x)[0], x, dtype)


def test_kernel_body_is_the_cpu_kernel_bitwise(shim):
    """Aligned and misaligned, vector and scalar paths all compute what the CPU kernel computes where both
    compute in the same type (float64; the CPU's float32 loops compute in double, the GPU's in float),
    and the same bits as each other in float32."""
    cpp.load_fused()
    for dtype in (torch.float64, torch.float32):
        base = inputs.random_input(8193, dtype, scale=3.0)
        aligned, misaligned = (shim.gelu(x, 5, 32) for x in (base[:-1], base[1:]))
        assert torch.equal(aligned[1:], misaligned[:-1])  # the same inputs, base[1:-1]
        if dtype == torch.float64:
            assert torch.equal(aligned, torch.ops.opbench.gelu(base[:-1]))
            assert torch.equal(misaligned, torch.ops.opbench.gelu(base[1:]))


def _sass_tools_missing() -> str | None:
    try:
        sass.find_nvdisasm()
    except build.BuildError as error:
        return str(error)
    return None


SASS_TOOLS_MISSING = _sass_tools_missing()


@pytest.mark.skipif(SASS_TOOLS_MISSING is not None, reason=str(SASS_TOOLS_MISSING))
def test_vector_loops_cost_what_f_gelu_formula_costs():
    """Static, no GPU: compiled for sm_90, the vector loops of the float and half kernels call no
    slow path, spill nothing, keep as many threads resident per SM, and spend at most 10% more
    instructions per element than F.gelu's formula in the same loop (in bfloat16 both sit near the
    SM's issue limit at copy bandwidth)."""
    stats = sass.kernel_stats("sm_90")
    assert set(stats.op) == {"gelu", "gelu-tanh", "silu"}
    stats = stats[stats.op == "gelu"]  # the twin is F.gelu's formula
    ours = stats[(stats.formula == "opbench") & (stats.dtype != "float64")].set_index(["direction", "dtype"])
    twin = stats[stats.formula != "opbench"].set_index(["direction", "dtype"])
    assert len(ours) == len(twin) == 6, stats
    assert (ours.slow_path_calls == 0).all() and (ours.spill_bytes == 0).all(), ours
    assert (ours.resident_threads_per_sm >= twin.resident_threads_per_sm).all(), stats  # loads in flight
    ratio = ours.instructions_per_element / twin.instructions_per_element
    assert (ratio <= 1.10).all(), ratio


# ---- on a GPU ----------------------------------------------------------------------------------


@requires_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("op", ["gelu", "gelu-tanh", "silu"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_cuda_passes_every_check_strictly(dtype, op):
    rows = check.run_checks(opbench.get("cuda", "cuda", op=op), "cuda", [dtype])
    assert "opcheck" in {row.check for row in rows}
    assert check.failed(rows, strict=True) == [], rows


@requires_cuda
@pytest.mark.cuda
@pytest.mark.parametrize("size", ODD_SIZES)
def test_cuda_matches_the_cpu_kernel_on_odd_sizes_and_views(size):
    impl = opbench.get("cuda", "cuda")
    base = inputs.random_input(size + 1, torch.float32, "cuda", scale=3.0)
    for x in (base[:size], base[1:], base[::2]):
        _expect_close(impl(x), activations.GELU.expected(x), x, torch.float32)
        assert torch.equal(impl(x), impl(x.contiguous()))


@requires_cuda
@pytest.mark.cuda
def test_cuda_on_a_non_default_stream():
    impl = opbench.get("cuda", "cuda")
    x = inputs.random_input(1 << 20, torch.float32, "cuda", scale=3.0)
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        y = impl(x)
    stream.synchronize()
    _expect_close(y, activations.GELU.expected(x), x, torch.float32)


@requires_cuda
@pytest.mark.cuda
def test_cuda_under_torch_compile_reduce_overhead():
    impl = opbench.get("cuda", "cuda")
    compiled = torch.compile(lambda t: impl(t) + 1, mode="reduce-overhead")
    x = inputs.random_input(4096, torch.float32, "cuda", scale=3.0)
    for _ in range(3):  # warm-up, record the CUDA graph, replay it
        y = compiled(x)
    torch.testing.assert_close(y, impl(x) + 1)


@requires_cuda
@pytest.mark.cuda
def test_cuda_beyond_2_pow_31_elements():
    n = (1 << 31) + 4099
    free, _ = torch.cuda.mem_get_info()
    if free < 3 * n * 2:  # bfloat16 input, output and a float64 slice of headroom
        pytest.skip(f"needs about {3 * n * 2 / 2**30:.0f} GiB of free GPU memory, {free / 2**30:.0f} GiB free")
    impl = opbench.get("cuda", "cuda")
    x = torch.empty(n, dtype=torch.bfloat16, device="cuda").uniform_(-6, 6)
    y = impl(x)
    for window in (slice(0, 4096), slice((1 << 31) - 2048, (1 << 31) + 2048), slice(n - 4096, n)):
        _expect_close(y[window], activations.GELU.expected(x[window]), x[window], torch.bfloat16)

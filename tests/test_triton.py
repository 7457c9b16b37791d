"""`triton`: its kernels run under Triton's interpreter on CPU tensors (TRITON_INTERPRET=1, set before import)."""

import os
import subprocess
import sys
import textwrap

import pytest

INTERPRETER = dict(os.environ, TRITON_INTERPRET="1")


def run_interpreted(*args):
    return subprocess.run([sys.executable, *args], env=INTERPRETER, capture_output=True, text=True)


@pytest.mark.slow
def test_triton_passes_every_check_of_every_op_under_the_interpreter():
    result = run_interpreted(
        "-m", "opbench.cli", "check", "--op", "all", "--impl", "triton", "--device", "cpu", "--strict"
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "0 failed" in result.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_masks_and_tails_at_odd_sizes(dtype):
    script = textwrap.dedent(f"""
        import torch, opbench
        from opbench.correctness import tolerance
        from opbench.spec import inputs
        impl = opbench.get("triton", "cpu")
        dtype = torch.{dtype}
        for size in (0, 1, 3, 7, 8, 9, 1023, 1025, 4095, 4097):
            x = inputs.random_input(size, dtype, scale=3.0).requires_grad_()
            y = impl(x)
            assert tolerance.agreement(y, impl.op.expected(x.detach()), x.detach(), dtype).passed, size
            grad = inputs.random_input(size, dtype, seed=1)
            y.backward(grad)
            expected = impl.op.expected_grads(grad, x.detach())[0]
            assert tolerance.agreement(x.grad, expected, x.detach(), dtype).passed, size
        print("ok")
    """)
    result = run_interpreted("-c", script)
    assert result.returncode == 0 and result.stdout.strip().endswith("ok"), result.stderr[-3000:]


def test_without_interpreter_or_gpu_it_is_unavailable():
    import torch

    import opbench

    impl = opbench.lookup("triton")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present: triton runs there")
    assert impl.devices == ("cuda",) and impl.unavailable_reason() == "no CUDA device"


def test_every_op_with_a_triton_implementation_has_its_formulas_and_no_other():
    """triton_kernel.OPS (which ops get a `triton` implementation, known without importing triton) and
    triton_math.FORMULAS (their math) are two lists; they must name the same ops."""
    pytest.importorskip("triton")
    from opbench.impls import triton_kernel, triton_math

    assert set(triton_kernel.OPS) == set(triton_math.FORMULAS)

"""`triton`: Triton GELU kernels (erf form), forward and backward, as torch.library custom ops.

The kernels run on CUDA; with TRITON_INTERPRET=1 set before import, Triton's interpreter runs them
on CPU tensors, and the implementation registers for the CPU instead (how the CPU tests run them).
"""

import functools
import os

import torch

from opbench.registry import register

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
BLOCK = 1024  # elements per program: 4 KiB of float32 in, 4 KiB out


@functools.cache
def load_ops():
    """Define the kernels and the ops opbench_triton::gelu and ::gelu_backward once; return the ops."""
    import triton
    import triton.language as tl

    @triton.jit
    def gelu_kernel(x_ptr, y_ptr, n, OPMATH: tl.constexpr, BLOCK: tl.constexpr):
        offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # 64-bit: past 2^31 too
        mask = offsets < n
        x = tl.load(x_ptr + offsets, mask=mask).to(OPMATH)
        cdf = 0.5 * (1.0 + tl.math.erf(x * 0.7071067811865476))
        y = tl.where(cdf == 0.0, 0.0, x * cdf)  # x = -inf: the limit 0, not -inf * 0
        tl.store(y_ptr + offsets, y.to(y_ptr.dtype.element_ty), mask=mask)

    @triton.jit
    def gelu_backward_kernel(grad_ptr, x_ptr, out_ptr, n, OPMATH: tl.constexpr, BLOCK: tl.constexpr):
        offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        mask = offsets < n
        x = tl.load(x_ptr + offsets, mask=mask).to(OPMATH)
        grad = tl.load(grad_ptr + offsets, mask=mask).to(OPMATH)
        cdf = 0.5 * (1.0 + tl.math.erf(x * 0.7071067811865476))
        pdf = tl.exp(-0.5 * x * x) * 0.3989422804014327
        slope = cdf + tl.where(pdf == 0.0, 0.0, x * pdf)  # x = +-inf: x * pdf -> 0, not inf * 0
        tl.store(out_ptr + offsets, (grad * slope).to(out_ptr.dtype.element_ty), mask=mask)

    def launch(kernel, output, *tensors):
        n = output.numel()
        opmath = tl.float64 if output.dtype == torch.float64 else tl.float32
        torch.library.wrap_triton(kernel)[(triton.cdiv(n, BLOCK),)](*tensors, output, n, OPMATH=opmath, BLOCK=BLOCK)
        return output

    @torch.library.triton_op("opbench_triton::gelu", mutates_args=())
    def gelu(x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        return launch(gelu_kernel, torch.empty_like(x), x)

    @torch.library.triton_op("opbench_triton::gelu_backward", mutates_args=())
    def gelu_backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if grad.shape != x.shape:
            raise ValueError(f"opbench_triton::gelu_backward: grad has shape {tuple(grad.shape)} but x has {tuple(x.shape)}")
        x = x.contiguous()
        return launch(gelu_backward_kernel, torch.empty_like(x), grad.contiguous(), x)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return gelu_backward(grad, x)

    gelu.register_autograd(backward, setup_context=setup_context)
    return torch.ops.opbench_triton


register(
    "triton",
    lambda x: torch.ops.opbench_triton.gelu.default(x),
    description="Triton kernels (erf form), wrapped with torch.library.triton_op",
    devices=("cpu",) if INTERPRETED else ("cuda",),
    setup=load_ops,
    # The interpreter cannot run a kernel on fake tensors, so opcheck runs where the GPU runs them.
    custom_ops=() if INTERPRETED else ("opbench_triton::gelu", "opbench_triton::gelu_backward"),
)

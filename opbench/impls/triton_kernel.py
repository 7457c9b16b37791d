"""`triton`: the Triton kernels of opbench/impls/triton_math.py, forward and backward, as torch.library custom ops
for each op they have math for.

The kernels run on CUDA; with TRITON_INTERPRET=1 set before import, Triton's interpreter runs them on
CPU tensors, and the implementations register for the CPU instead (how the CPU tests run them).
"""

import functools
import os

import torch

from opbench.impls.custom_ops import schema_name
from opbench.spec.registry import register

INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"
BLOCK = 1024  # elements per program: 4 KiB of float32 in, 4 KiB out
# The ops of triton_math.FORMULAS (not imported here: Triton loads only when an op is set up).
OPS = ("gelu", "gelu-tanh", "silu")


def _traceable(kernel):
    """The kernel as torch.library.wrap_triton makes it, traceable by torch.compile and fake tensors. Under
    TRITON_INTERPRET=1, @triton.jit gives an InterpretedFunction instead, launched as it is: what
    wrap_triton itself returns for one in recent torch (2.14), while torch 2.11 refuses it."""
    from triton.runtime.jit import JITFunction

    return torch.library.wrap_triton(kernel) if isinstance(kernel, JITFunction) else kernel


@functools.cache
def load_ops():
    """Define opbench_triton::<op> and ::<op>_backward for every op, once; return torch.ops.opbench_triton."""
    import triton
    import triton.language as tl

    from opbench.impls import triton_math

    def launch(kernel, function, output, *tensors):
        n = output.numel()
        opmath = tl.float64 if output.dtype == torch.float64 else tl.float32
        _traceable(kernel)[(triton.cdiv(n, BLOCK),)](*tensors, output, n, function, OPMATH=opmath, BLOCK=BLOCK)
        return output

    for op, (function, derivative) in triton_math.FORMULAS.items():
        define(op, launch, triton_math, function, derivative)
    return torch.ops.opbench_triton


def define(op: str, launch, kernels, function, derivative) -> None:
    """The custom ops opbench_triton::<op> and <op>_backward over contiguous inputs, with autograd.
    (Plain defs calling the launcher: triton_op reads the source of the function it wraps.)"""
    name = f"opbench_triton::{schema_name(op)}"

    @torch.library.triton_op(f"{name}_backward", mutates_args=())
    def backward(grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        if grad.shape != x.shape:
            raise ValueError(f"{name}_backward: grad has shape {tuple(grad.shape)} but x has {tuple(x.shape)}")
        x = x.contiguous()
        return launch(kernels.backward_kernel, derivative, torch.empty_like(x), grad.contiguous(), x)

    @torch.library.triton_op(name, mutates_args=())
    def forward(x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        return launch(kernels.forward_kernel, function, torch.empty_like(x), x)

    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    def backward_of_forward(ctx, grad):
        (x,) = ctx.saved_tensors
        return backward(grad, x)

    forward.register_autograd(backward_of_forward, setup_context=setup_context)


for op in OPS:
    name = schema_name(op)
    register(
        "triton",
        lambda x, name=name: getattr(torch.ops.opbench_triton, name).default(x),
        op=op,
        description="Triton kernels, one pair shared by every op, wrapped with torch.library.triton_op",
        devices=("cpu",) if INTERPRETED else ("cuda",),
        setup=load_ops,
        # The interpreter cannot run a kernel on fake tensors, so opcheck runs where the GPU runs them.
        custom_ops=() if INTERPRETED else (f"opbench_triton::{name}", f"opbench_triton::{name}_backward"),
    )

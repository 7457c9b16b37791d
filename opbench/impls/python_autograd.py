"""`python`: GELU as a torch.autograd.Function with the hand-derived derivative, in plain tensor ops."""

import torch

from opbench import reference
from opbench.registry import register


def _opmath(x: torch.Tensor) -> torch.Tensor:
    # Half types compute in float32, as PyTorch's own kernels do: erfc in bfloat16 loses the tail.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


class GeluFunction(torch.autograd.Function):
    """Forward x * Phi(x); backward grad * (Phi(x) + x * phi(x)), both from opbench.reference."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return reference.gelu(_opmath(x)).to(x.dtype)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors  # a tuple, even of one: unpack it (the reference lab bound the tuple)
        return (_opmath(grad) * reference.gelu_derivative(_opmath(x))).to(x.dtype)


register(
    "python",
    GeluFunction.apply,
    description="torch.autograd.Function with the hand-derived derivative",
    devices=("cpu", "cuda"),
)

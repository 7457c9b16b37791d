"""`python`: each built-in op as a torch.autograd.Function whose forward and backward are the op's reference formulas
(opbench.spec.reference) in plain tensor ops."""

import torch

from opbench.spec.activations import BUILT_IN, Op
from opbench.spec.registry import register


def _opmath(x: torch.Tensor) -> torch.Tensor:
    # Half types compute in float32, as PyTorch's own kernels do: erfc in bfloat16 loses the tail.
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def reference_function(op: Op) -> type[torch.autograd.Function]:
    """An autograd.Function computing op.function forward and grad times each of op.partials backward,
    in the inputs' dtype (float32 for half types)."""

    class ReferenceFunction(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *xs: torch.Tensor) -> torch.Tensor:
            ctx.save_for_backward(*xs)
            return op.function(*map(_opmath, xs)).to(xs[0].dtype)

        @staticmethod
        def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, ...]:
            xs = [_opmath(x) for x in ctx.saved_tensors]  # a tuple, even of one (the reference lab bound the tuple)
            return tuple((_opmath(grad) * partial(*xs)).to(grad.dtype) for partial in op.partials)

    ReferenceFunction.__name__ = ReferenceFunction.__qualname__ = f"{op.name.title().replace('-', '')}Function"
    return ReferenceFunction


for op in BUILT_IN:
    register(
        "python",
        reference_function(op).apply,
        op=op.name,
        description="torch.autograd.Function with the hand-derived derivative",
        devices=("cpu", "cuda"),
    )

"""Deliberately wrong implementations of every built-in op: a plugin whose every implementation `opbench check` must
fail, by name of the flaw.

Each flaw is built from the op's baseline, so the same four exist for gelu, gelu-tanh and silu.
"""

import torch

import opbench
from opbench.spec.activations import BUILT_IN


def _without_second_term(op):
    """Right forward; backward grad * f(x) / x, the derivative without its x * (f / x)' term (for GELU,
    Phi(x) without x * phi(x); for SiLU, sigmoid(x) without x * sigmoid'(x))."""

    class WithoutSecondTerm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return op.baseline(x)

        @staticmethod
        def backward(ctx, grad):
            (x,) = ctx.saved_tensors
            return grad * torch.where(x == 0, 0.5, op.baseline(x) / x)

    return WithoutSecondTerm.apply


for op in BUILT_IN:
    opbench.register(
        "wrong-tail",
        lambda x, op=op: op.baseline(x) + torch.where(x < -3, 1e-5, 0.0).to(x.dtype),
        op=op.name,
        description="adds 1e-5 for x < -3: a small error in the negative tail",
    )
    opbench.register(
        "wrong-gradient",
        _without_second_term(op),
        op=op.name,
        description="right forward, a derivative without its second term",
    )
    opbench.register(
        "wrong-dtype",
        lambda x, op=op: op.baseline(x.double()),
        op=op.name,
        description="returns float64 whatever the input dtype",
    )
    opbench.register(
        "wrong-nan-negative",
        lambda x, op=op: torch.where(x < 0, torch.nan, op.baseline(x)),
        op=op.name,
        description="nan for every negative input",
    )

"""Deliberately wrong implementations of every built-in op: a plugin whose every implementation `opbench check` must
fail, by name of the flaw.

Each flaw is built from the op's baseline, so the same four exist for every built-in op, gated ones included.
"""

import math

import torch

import opbench
from opbench.spec.activations import BUILT_IN


def _without_second_term(op):
    """Right forward; backward grad * f(x) / x for the first input, the derivative without its x * (f / x)'
    term (for GELU, Phi(x) without x * phi(x); for SiLU, sigmoid(x) without x * sigmoid'(x); for a gated
    op, the same times up), the other inputs' gradients right."""

    class WithoutSecondTerm(torch.autograd.Function):
        @staticmethod
        def forward(ctx, *xs):
            ctx.save_for_backward(*xs)
            return op.baseline(*xs)

        @staticmethod
        def backward(ctx, grad):
            xs = ctx.saved_tensors
            with torch.enable_grad():
                leaves = [x.detach().requires_grad_() for x in xs]
                right = torch.autograd.grad(op.baseline(*leaves), leaves, grad)
            at_zero = 0.5 * math.prod(xs[1:], start=torch.ones_like(xs[0]))
            return (grad * torch.where(xs[0] == 0, at_zero, op.baseline(*xs) / xs[0]), *right[1:])

    return WithoutSecondTerm.apply


for op in BUILT_IN:
    opbench.register(
        "wrong-tail",
        lambda *xs, op=op: op.baseline(*xs) + torch.where(xs[0] < -3, 1e-5, 0.0).to(xs[0].dtype) * math.prod(xs[1:]),
        op=op.name,
        description="adds 1e-5 (times the other inputs) for x < -3: a small error in the negative tail",
    )
    opbench.register(
        "wrong-gradient",
        _without_second_term(op),
        op=op.name,
        description="right forward, a derivative without its second term",
    )
    opbench.register(
        "wrong-dtype",
        lambda *xs, op=op: op.baseline(*(x.double() for x in xs)),
        op=op.name,
        description="returns float64 whatever the input dtype",
    )
    opbench.register(
        "wrong-nan-negative",
        lambda *xs, op=op: torch.where(xs[0] < 0, torch.nan, op.baseline(*xs)),
        op=op.name,
        description="nan for every negative input",
    )

"""Deliberately wrong GELUs: a plugin whose every implementation `opbench check` must fail, by name of the flaw."""

import torch
import torch.nn.functional as F

import opbench


@opbench.register("wrong-tail", description="adds 1e-5 for x < -3: a small error in the negative tail")
def wrong_tail(x):
    return F.gelu(x) + torch.where(x < -3, 1e-5, 0.0).to(x.dtype)


class _WrongGradient(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.gelu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 0.5 * (1 + torch.erf(x / 2**0.5))  # forgets the x * phi(x) term


opbench.register("wrong-gradient", _WrongGradient.apply, description="right forward, derivative without x*phi(x)")


@opbench.register("wrong-dtype", description="returns float64 whatever the input dtype")
def wrong_dtype(x):
    return F.gelu(x.double())


@opbench.register("wrong-nan-negative", description="nan for every negative input")
def wrong_nan_negative(x):
    return torch.where(x < 0, torch.nan, F.gelu(x))

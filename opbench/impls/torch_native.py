"""PyTorch's own GELU, exact (`torch`, the baseline of every speedup) and tanh-approximated (`torch-tanh`)."""

import torch
import torch.nn.functional as F

from opbench.registry import register

register(
    "torch",
    lambda x: F.gelu(x, approximate="none"),
    description="F.gelu(approximate='none'): PyTorch's own kernel",
    devices=("cpu", "cuda"),
    forward_out=lambda x, out: torch.ops.aten.gelu.out(x, out=out),
    backward_out=lambda grad, x, grad_input: torch.ops.aten.gelu_backward.grad_input(grad, x, grad_input=grad_input),
)
register(
    "torch-tanh",
    lambda x: F.gelu(x, approximate="tanh"),
    description="F.gelu(approximate='tanh'): the tanh approximation",
    formula="tanh",
    devices=("cpu", "cuda"),
)

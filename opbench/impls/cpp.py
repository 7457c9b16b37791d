"""C++ implementations: the fused CPU kernel `cpp` (csrc/gelu.cpp) and the lab's composite `cpp-composite`."""

import torch

from opbench.impls.custom_ops import load_gelu_ops
from opbench.registry import register

FUSED_SOURCES = ("gelu.cpp",)
COMPOSITE_SOURCES = ("gelu_composite.cpp",)


def load_fused():
    return load_gelu_ops("opbench", FUSED_SOURCES)


def gelu_out(x, out):
    torch.ops.opbench.gelu.out(x, out=out)  # returns nothing: see the schema in csrc/gelu.cpp
    return out


def gelu_backward_out(grad, x, grad_input):
    torch.ops.opbench.gelu_backward.out(grad, x, grad_input=grad_input)
    return grad_input


register(
    "cpp",
    lambda x: torch.ops.opbench.gelu.default(x),
    description="fused single-pass C++ kernel: vectorized, multithreaded, exact limits",
    setup=load_fused,
    custom_ops=("opbench::gelu", "opbench::gelu_backward"),
    forward_out=gelu_out,
    backward_out=gelu_backward_out,
)
register(
    "cpp-composite",
    lambda x: torch.ops.opbench_composite.gelu.default(x),
    description="the reference lab's C++ extension: a composite of torch::erf and torch::exp",
    devices=("cpu", "cuda"),
    setup=lambda: load_gelu_ops("opbench_composite", COMPOSITE_SOURCES),
    custom_ops=("opbench_composite::gelu", "opbench_composite::gelu_backward"),
)

"""C++ implementations: the fused CPU kernels `cpp` of every op in opbench/csrc/activation_math.h
(opbench/csrc/activations.cpp), and the lab's composite GELU `cpp-composite`."""

import functools
import os

import torch

from opbench.core import UnavailableError
from opbench.impls.custom_ops import load_ops, schema_name
from opbench.spec.registry import register

FUSED_SOURCES = (
    "activations.cpp",
    "gated_activations.cpp",
    "cpu_dispatch.cpp",
    "cpu_loops_avx512.cpp",
    "cpu_loops_avx2.cpp",
    "cpu_loops_scalar.cpp",
)
COMPOSITE_SOURCES = ("gelu_composite.cpp",)
# The ops with a functor in opbench/csrc/activation_math.h (its OPBENCH_ACTIVATIONS list; a test keeps the two equal),
# and the gated ones (OPBENCH_GATED: CPU kernels only, until a GPU run has validated the CUDA kernels).
KERNEL_OPS = ("gelu", "gelu-tanh", "silu")
GATED_OPS = ("swiglu", "geglu")


def load_ops_declared():
    """The extension that declares every op (its schemas and autograd, the CPU kernels)."""
    return load_ops("opbench", FUSED_SOURCES, KERNEL_OPS + GATED_OPS)


@functools.cache
def load_fused():
    """The extension, with the CPU loops of the instruction set OPBENCH_CPU_ISA=avx512|avx2|scalar
    forces (csrc/cpu_dispatch.h), once per process; unset, the best this CPU runs."""
    ops = load_ops_declared()
    wanted = os.environ.get("OPBENCH_CPU_ISA")
    if wanted:
        supported = list(ops.cpu_isas())
        if wanted not in supported:
            raise UnavailableError(f"OPBENCH_CPU_ISA={wanted}: this CPU runs the loops in {', '.join(supported)} only")
        ops.set_cpu_isa(wanted)
    return ops


def fused_functions(op: str) -> dict:
    """The forward and out= variants of opbench::<op>, as registry fields."""
    name = schema_name(op)

    def forward(*xs):
        return getattr(torch.ops.opbench, name).default(*xs)

    def forward_out(*xs_and_out):
        *xs, out = xs_and_out
        getattr(torch.ops.opbench, name).out(*xs, out=out)  # returns nothing: see the schemas in csrc/activations.cpp
        return out

    def backward_out(grad, x, grad_input):
        getattr(torch.ops.opbench, f"{name}_backward").out(grad, x, grad_input=grad_input)
        return grad_input

    # A gated op's backward writes two gradients: no out= entry of one output times it.
    return dict(
        forward=forward,
        forward_out=forward_out,
        backward_out=None if op in GATED_OPS else backward_out,
        custom_ops=(f"opbench::{name}", f"opbench::{name}_backward"),
    )


for op in KERNEL_OPS + GATED_OPS:
    register(
        "cpp",
        op=op,
        description="fused single-pass C++ kernel: vectorized, multithreaded, exact limits (gated: recomputes "
        "act(gate) in backward)",
        setup=load_fused,
        **fused_functions(op),
    )
register(
    "cpp-composite",
    lambda x: torch.ops.opbench_composite.gelu.default(x),
    description="the reference lab's C++ extension: a composite of torch::erf and torch::exp",
    devices=("cpu", "cuda"),
    setup=lambda: load_ops("opbench_composite", COMPOSITE_SOURCES, ("gelu",)),
    custom_ops=("opbench_composite::gelu", "opbench_composite::gelu_backward"),
)

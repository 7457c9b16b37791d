"""`cuda`: the CUDA kernels of csrc/gelu_kernel.cu behind the same opbench::gelu ops as `cpp`."""

import torch

from opbench import build
from opbench.impls.cpp import gelu_backward_out, gelu_out, load_fused
from opbench.registry import register

SOURCES = ("gelu_cuda.cpp", "gelu_kernel.cu")


def load_cuda_kernels() -> None:
    load_fused()  # declares the ops and their autograd; the CUDA library adds kernels
    build.load_extension("opbench_cuda", SOURCES)


register(
    "cuda",
    lambda x: torch.ops.opbench.gelu.default(x),
    description="CUDA kernel: grid-stride, 128-bit loads and stores, same math as cpp",
    devices=("cuda",),
    setup=load_cuda_kernels,
    custom_ops=("opbench::gelu", "opbench::gelu_backward"),
    forward_out=gelu_out,
    backward_out=gelu_backward_out,
)

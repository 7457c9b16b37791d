"""`cuda`: the CUDA kernels of opbench/csrc/activation_kernel.cu behind the same opbench ops as `cpp`, for each op of
`cpp`."""

from opbench.impls import build
from opbench.impls.cpp import KERNEL_OPS, fused_functions, load_ops_declared
from opbench.spec.registry import register

SOURCES = ("activations_cuda.cpp", "activation_kernel.cu")


def load_cuda_kernels() -> None:
    load_ops_declared()  # declares the ops and their autograd; the CUDA library adds kernels
    build.load_extension("opbench_cuda", SOURCES)


for op in KERNEL_OPS:
    register(
        "cuda",
        op=op,
        description="CUDA kernel: grid-stride, 128-bit loads and stores, same math as cpp",
        devices=("cuda",),
        setup=load_cuda_kernels,
        **fused_functions(op),
    )

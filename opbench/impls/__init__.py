"""The built-in implementations: importing each module registers its implementations, in this order."""

# isort: off
from opbench.impls import torch_native, python_autograd, cpp, cuda, triton_kernel, compiled  # noqa: F401

"""Fake-tensor registrations shared by the GELU custom ops of the C++ and CUDA extensions.

Every extension declares `<namespace>::gelu(Tensor x) -> Tensor` and
`<namespace>::gelu_backward(Tensor grad, Tensor x) -> Tensor` and registers their autograd in C++
(csrc/gelu_autograd.h: a Python autograd layer costs ~10 us per call); this module adds the fake
kernels (torch.library.register_fake), as pytorch/extension-cpp does, so that opcheck passes and
torch.compile traces through them.
"""

from __future__ import annotations

import functools

import torch

from opbench import build


def _like_contiguous(x: torch.Tensor, *_) -> torch.Tensor:
    # The kernels write a fresh contiguous output of x's shape, dtype and device.
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@functools.cache
def load_gelu_ops(namespace: str, sources: tuple[str, ...]):
    """Build and load the extension that declares `namespace`'s ops, add their fakes once, return the ops."""
    build.load_extension(namespace, sources)
    ops = getattr(torch.ops, namespace)

    torch.library.register_fake(f"{namespace}::gelu")(_like_contiguous)
    torch.library.register_fake(f"{namespace}::gelu_backward")(lambda grad, x: _like_contiguous(x))
    if hasattr(ops.gelu, "out"):  # the out= overloads write into a given tensor and return nothing
        torch.library.register_fake(f"{namespace}::gelu.out")(lambda x, *, out: None)
        torch.library.register_fake(f"{namespace}::gelu_backward.out")(lambda grad, x, *, grad_input: None)
    return ops

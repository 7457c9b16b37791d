"""Fake-tensor registrations shared by the activation custom ops of the C++ and CUDA extensions.

An extension declares, for each op it implements, `<namespace>::<op>(Tensor x) -> Tensor` and
`<namespace>::<op>_backward(Tensor grad, Tensor x) -> Tensor` (a gated op: gate and up, and a backward
returning both gradients), maybe their out= overloads, and
registers their autograd in C++ (opbench/csrc/activation_autograd.h: a Python autograd layer costs ~10 us per
call); this module adds the fake kernels (torch.library.register_fake), as pytorch/extension-cpp does,
so that opcheck passes and torch.compile traces through them.
"""

from __future__ import annotations

import functools

import torch

from opbench.impls import build


def schema_name(op: str) -> str:
    """The name of an op's schema in C++: 'gelu_tanh' for gelu-tanh (a schema name has no hyphen)."""
    return op.replace("-", "_")


def _like_contiguous(x: torch.Tensor, *_) -> torch.Tensor:
    # The kernels write a fresh contiguous output of x's shape, dtype and device.
    return torch.empty_like(x, memory_format=torch.contiguous_format)


def _gradients_like(grad: torch.Tensor, *xs: torch.Tensor):
    # A backward returns each input's gradient: one Tensor for one input, a tuple for several (the schemas').
    gradients = tuple(map(_like_contiguous, xs))
    return gradients if len(gradients) > 1 else gradients[0]


@functools.cache
def load_ops(namespace: str, sources: tuple[str, ...], ops: tuple[str, ...]):
    """Build and load the extension that declares `namespace`'s ops (`ops`, opbench names such as
    'gelu-tanh'), add their fakes, once; return torch.ops.<namespace>."""
    build.load_extension(namespace, sources)
    loaded = getattr(torch.ops, namespace)
    for op in map(schema_name, ops):
        forward = f"{namespace}::{op}"
        torch.library.register_fake(forward)(_like_contiguous)
        torch.library.register_fake(f"{forward}_backward")(_gradients_like)
        if hasattr(getattr(loaded, op), "out"):  # write into given tensors, return nothing
            torch.library.register_fake(f"{forward}.out")(lambda *xs, out: None)
            torch.library.register_fake(f"{forward}_backward.out")(lambda *args, **outputs: None)
    return loaded

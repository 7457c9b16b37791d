"""Fake-tensor registrations shared by the activation custom ops of the C++ and CUDA extensions.

An extension declares, for each op it implements, `<namespace>::<op>(Tensor x) -> Tensor` and
`<namespace>::<op>_backward(Tensor grad, Tensor x) -> Tensor` (and maybe their out= overloads) and
registers their autograd in C++ (csrc/activation_autograd.h: a Python autograd layer costs ~10 us per
call); this module adds the fake kernels (torch.library.register_fake), as pytorch/extension-cpp does,
so that opcheck passes and torch.compile traces through them.
"""

from __future__ import annotations

import functools

import torch

from opbench import build


def schema_name(op: str) -> str:
    """The name of an op's schema in C++: 'gelu_tanh' for gelu-tanh (a schema name has no hyphen)."""
    return op.replace("-", "_")


def _like_contiguous(x: torch.Tensor, *_) -> torch.Tensor:
    # The kernels write a fresh contiguous output of x's shape, dtype and device.
    return torch.empty_like(x, memory_format=torch.contiguous_format)


@functools.cache
def load_ops(namespace: str, sources: tuple[str, ...]):
    """Build and load the extension that declares `namespace`'s ops, add the fakes of every op it
    declared, once; return torch.ops.<namespace>."""
    build.load_extension(namespace, sources)
    ops = getattr(torch.ops, namespace)
    forwards = [f"{namespace}::{schema.name.split('::')[1]}" for schema in torch._C._jit_get_all_schemas()
                if schema.name.startswith(f"{namespace}::") and not schema.name.endswith("_backward")]
    for forward in dict.fromkeys(forwards):  # each name once, though its out= overload is listed too
        torch.library.register_fake(forward)(_like_contiguous)
        torch.library.register_fake(f"{forward}_backward")(lambda grad, x: _like_contiguous(x))
        if hasattr(getattr(ops, forward.split("::")[1]), "out"):  # write into a given tensor, return nothing
            torch.library.register_fake(f"{forward}.out")(lambda x, *, out: None)
            torch.library.register_fake(f"{forward}_backward.out")(lambda grad, x, *, grad_input: None)
    return ops

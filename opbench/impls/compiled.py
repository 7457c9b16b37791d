"""`compiled`: torch.compile of each built-in op as a user writes it (the op's `formula`); Inductor generates forward
and backward (C++ on CPU, Triton on GPU)."""

from __future__ import annotations

import contextlib

import torch

from opbench.spec.activations import BUILT_IN, Op
from opbench.spec.registry import register

# One graph per dtype, device, rank and grad mode, and a few stride patterns of each input (the layouts
# check's views of a gated op's two inputs): more than dynamo's default of 8 recompilations per
# function, past which it would silently fall back to eager.
RECOMPILE_LIMIT = 256


def compile_settings() -> contextlib.AbstractContextManager:
    """What these compilations need while opbench checks, times or trains them (registry `settings`),
    restored afterwards, never set process-wide: the recompile limit above, and no donated buffers,
    which forbid running a compiled backward twice (retain_graph: gradcheck and the backward-only
    timings do; functorch reads the setting at compile time and again at every backward)."""
    name = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    stack = contextlib.ExitStack()
    stack.enter_context(torch._dynamo.config.patch(**{name: RECOMPILE_LIMIT}))
    stack.enter_context(torch._functorch.config.patch(donated_buffer=False))
    return stack


class Compiled:
    """torch.compile(op's formula, dynamic=True), made on first use: importing dynamo takes seconds."""

    def __init__(self, op: Op):
        self.formula = op.formula or op.baseline
        self.function = None

    def __call__(self, *xs: torch.Tensor) -> torch.Tensor:
        if self.function is None:
            self.function = torch.compile(self.formula, dynamic=True)
        return self.function(*xs)


for op in BUILT_IN:
    register(
        "compiled",
        Compiled(op),
        op=op.name,
        devices=("cpu", "cuda"),
        settings=compile_settings,
        description="torch.compile of the formula a user writes: Inductor-generated forward and backward",
    )

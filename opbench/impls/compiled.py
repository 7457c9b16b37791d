"""`compiled`: torch.compile of the Python erf formula; Inductor generates forward and backward (C++ on CPU, Triton on GPU)."""

import functools

import torch

from opbench import reference
from opbench.registry import register

# One graph per dtype, device, rank and grad mode, and a few stride patterns: more than dynamo's
# default of 8 recompilations per function, past which it would silently fall back to eager.
RECOMPILE_LIMIT = 64


@functools.cache
def compiled_gelu():
    config = torch._dynamo.config
    name = "recompile_limit" if hasattr(config, "recompile_limit") else "cache_size_limit"
    setattr(config, name, max(getattr(config, name), RECOMPILE_LIMIT))
    # Donated buffers forbid running a compiled backward twice (retain_graph), which gradcheck and
    # the backward-only timings do; without them the backward keeps its own saved activations.
    torch._functorch.config.donated_buffer = False
    return torch.compile(reference.gelu, dynamic=True)


register(
    "compiled",
    lambda x: compiled_gelu()(x),
    description="torch.compile of the erf formula: Inductor-generated forward and backward",
    devices=("cpu", "cuda"),
    setup=compiled_gelu,
)

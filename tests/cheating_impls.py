"""Cheating and faulty GELUs: each passes the random-input checks, yet the contract check or verified timing must catch
and name it."""

import sys

import torch
import torch.nn.functional as F

import opbench

LARGE = 1 << 17  # above the checks' 3 x 2^15 elements, below the sizes a sweep times


def _memo(key):
    cache = {}

    def gelu(x):
        k = key(x)
        if k not in cache:
            cache[k] = F.gelu(x)
        return cache[k]

    return gelu


# The plugin from the issue: a result kept per (pointer, shape, dtype, version counter).
opbench.register(
    "memo-pointer",
    _memo(lambda x: (x.data_ptr(), x.shape, x.dtype, x._version)),
    description="caches its result by input pointer and version",
)
opbench.register("memo-shape", _memo(lambda x: (tuple(x.shape), x.dtype)), description="caches its result by shape")
opbench.register(
    "memo-values",
    _memo(lambda x: (x.shape, x.dtype, x.flatten()[:64].double().sum().item())),
    description="caches its result by its first 64 input values",
)


@opbench.register("prefix-only", description=f"right up to {LARGE} elements, then computes only the first {LARGE}")
def prefix_only(x):
    if x.numel() <= LARGE:
        return F.gelu(x)
    y = torch.zeros_like(x)
    y.view(-1)[:LARGE] = F.gelu(x.reshape(-1)[:LARGE])
    return y


@opbench.register("alias-input", description="writes GELU into its input's memory and returns the input")
def alias_input(x):
    x.data.copy_(F.gelu(x.detach()))
    return x.detach()


@opbench.register("mutate-input", description="right output, but scribbles on its input afterwards")
def mutate_input(x):
    y = F.gelu(x)
    x.data.view(-1)[:1] = 0.0
    return y


@opbench.register("nondeterministic", description="adds noise within the tolerance: different bits per call")
def nondeterministic(x):
    y = F.gelu(x)
    return y + (torch.rand_like(y) * 1e-7 * y.detach().abs())


class _RaisesInBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return F.gelu(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        if x.numel() > LARGE:
            raise RuntimeError(f"backward refuses {x.numel()} elements")
        return torch.ops.aten.gelu_backward(grad, x)


opbench.register("raise-large-backward", _RaisesInBackward.apply, description=f"backward raises above {LARGE} elements")


@opbench.register("raise-large", description=f"forward raises above {LARGE} elements")
def raise_large(x):
    if x.numel() > LARGE:
        raise MemoryError(f"pretends to run out of memory at {x.numel()} elements")
    return F.gelu(x)


@opbench.register("exit-large", description=f"forward calls sys.exit() above {LARGE} elements")
def exit_large(x):
    if x.numel() > LARGE:
        sys.exit(3)
    return F.gelu(x)


@opbench.register(
    "side-stream", description="computes on a side CUDA stream and returns before it is done", devices=("cuda",)
)
def side_stream(x):
    stream = torch.cuda.Stream()
    y = torch.empty_like(x)
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        torch.cuda._sleep(1_000_000)  # about a millisecond: the caller's stream is long done by then
        y.copy_(F.gelu(x))
    return y


@opbench.register("twice", description="an honest GELU that does its work twice: a regression, not a cheat")
def twice(x):
    F.gelu(x)
    return F.gelu(x)


_kept = []


@opbench.register("leaks", description="keeps every output alive: right, and a memory leak")
def leaks(x):
    y = F.gelu(x)
    _kept.append(y)
    return y

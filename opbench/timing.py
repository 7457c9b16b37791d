"""Timing one implementation on one input with torch.utils.benchmark: medians with spread, bytes moved, GB/s.

Bytes moved count each tensor an op must touch once (tensors of n elements of s bytes):
  fwd      reads x, writes y                         2 n s
  bwd      reads grad and x, writes grad_input       3 n s
  fwd+bwd  both                                      5 n s
GB/s = bytes moved / median time (10^9 bytes). The roofline is a plain out-of-place copy,
x.clone(): it reads n s and writes n s into a fresh allocation, the same allocation pattern as
the ops' fresh outputs, so first-touch page faults (CPU) are in both.

On CUDA, torch.utils.benchmark synchronizes the device around every timed block. Beside the wall
time, kernel_s is the GPU time per call spent inside kernels (torch.profiler's device events): where
it is well below the median, the call waits on CPU-side work (dispatch, launches, the autograd engine,
a Python backward), not on its kernels, and a faster kernel would not show. L2 is not flushed
between runs: a block of back-to-back calls is what a training step does to an activation the
previous layer just wrote, and at 2^24 elements and above (what the bandwidth targets are about)
the tensors are several times larger than L2 anyway.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch.utils import benchmark

from opbench import inputs
from opbench.registry import Implementation

DIRECTIONS = ("fwd", "bwd", "fwd+bwd")
TENSORS_TOUCHED = {"fwd": 2, "bwd": 3, "fwd+bwd": 5}


def bytes_moved(direction: str, numel: int, dtype: torch.dtype) -> int:
    return TENSORS_TOUCHED[direction] * numel * dtype.itemsize


def make_runner(impl: Implementation | Callable, direction: str, numel: int, dtype: torch.dtype, device: str) -> Callable[[], object]:
    """A no-argument callable doing one `direction` pass of impl on a seeded input of numel elements."""
    x = inputs.random_input(numel, dtype, device, scale=3.0)
    if direction == "fwd":
        return lambda: impl(x)
    x.requires_grad_()
    grad = torch.ones_like(x)
    if direction == "bwd":
        y = impl(x)  # the graph is built once; each run replays only the backward
        return lambda: torch.autograd.grad(y, x, grad, retain_graph=True)
    return lambda: torch.autograd.grad(impl(x), x, grad)


def copy_runner(numel: int, dtype: torch.dtype, device: str) -> Callable[[], object]:
    x = inputs.random_input(numel, dtype, device)
    return x.clone


@dataclass
class Timing:
    p20_s: float
    median_s: float
    p80_s: float
    runs: int
    kernel_s: float = math.nan  # CUDA only


def cold_call_s(impl: Implementation, dtype: torch.dtype, device: str) -> float:
    """Seconds of the first forward and backward of impl in this process and dtype, on a small input:
    where builds, Triton JIT and torch.compile's compilation land, reported apart from steady state.
    nan when the call raises: the checks that follow name the failure."""
    x = inputs.random_input(1024, dtype, device).requires_grad_()
    start = time.perf_counter()
    try:
        impl(x).sum().backward()
    except Exception:
        return math.nan
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def measure(run: Callable[[], object], device: str, min_run_time: float = 0.5) -> Timing:
    """Time run() with torch.utils.benchmark at the intra-op thread count of this process
    (the Timer's default of 1 thread would slow every CPU op but the Python ones), after one
    untimed warm-up call."""
    run()
    timer = benchmark.Timer(stmt="run()", globals={"run": run}, num_threads=torch.get_num_threads())
    measurement = timer.blocked_autorange(min_run_time=min_run_time)
    p20, median, p80 = np.percentile(measurement.times, [20, 50, 80])
    kernel = kernel_time_s(run) if device == "cuda" else math.nan
    return Timing(float(p20), float(median), float(p80), len(measurement.times), kernel)


def kernel_time_s(run: Callable[[], object], calls: int = 20) -> float:
    """GPU seconds per call inside kernels and copies, summed over the device events torch.profiler
    records for `calls` calls; nan if it records none (no CUPTI)."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as profiler:
        for _ in range(calls):
            run()
        torch.cuda.synchronize()
    device_events = [e for e in profiler.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    if not device_events:
        return math.nan
    return sum(e.time_range.elapsed_us() for e in device_events) / calls / 1e6

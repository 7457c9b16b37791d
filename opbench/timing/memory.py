"""Memory and device time of one call, measured after the timing, never inside it: the peak one call holds, what calls
retain (a leak), what a forward saves for backward, GPU kernel time, and the first call's cost.

CUDA: the caching allocator's counters, exact. CPU: the process's resident set (Linux), which
moves in pages and only when the allocator asks the kernel for memory: coarse, but a call that
keeps its output alive grows it by its output's size every call; its peak is the kernel's
high-water mark (VmHWM), reset before the call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import math
import os
import time
from collections.abc import Callable
from contextlib import contextmanager

import torch

from opbench import core
from opbench.core import IMPLEMENTATION_ERRORS
from opbench.spec import inputs

# A call that retains more than this fraction of its output's bytes, call after call, leaks.
LEAK_FRACTION = 0.5
# Calls whose retained memory is measured after the timing (memory.memory_use): at least LEAK_CALLS, and
# for small outputs enough that a leak grows memory by LEAK_RESOLUTION_BYTES, the growth memory_use
# tells apart from noise. CUDA's allocator counters are exact; the CPU's resident set moves in 4 KiB
# pages and by a page or two between readings for reasons of its own (measured: -8 to +4 KiB over 20
# calls of a 64-byte output, which had flagged F.gelu's forward+backward at 2^4 as keeping 205 bytes
# per call). At most LEAK_MAX_CALLS: at 2^16 calls a page of noise is well under a byte per call.
LEAK_CALLS = 20
LEAK_MAX_CALLS = 1 << 16
LEAK_RESOLUTION_BYTES = {"cpu": 256 << 10, "cuda": 0}


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(ctypes.util.find_library("c")).malloc_trim  # glibc
    except (OSError, AttributeError, TypeError):
        return None


def resident_bytes() -> int:
    """The process's resident set, after glibc hands its free heap pages back to the kernel: else new
    allocations reuse pages that freed tensors left resident, and a leak grows nothing."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _reset_resident_peak() -> bool:
    """Reset the kernel's high-water mark of this process's resident set (Linux 4.0+: clear_refs 5)."""
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return True
    except OSError:
        return False


def _resident_peak() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise OSError("no VmHWM in /proc/self/status")


def saved_bytes(entry: Callable, xs: tuple[torch.Tensor, ...]) -> float:
    """Bytes a forward with autograd saves for its backward beyond its inputs' own storage (each
    storage counted once), from torch.autograd.graph.saved_tensors_hooks."""
    inputs = {x.untyped_storage().data_ptr() for x in xs}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in inputs:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        output = entry(*xs)
    del output
    return float(sum(saved.values()))


def allocated_bytes(device: str) -> int:
    if device == "cuda":
        torch.cuda.synchronize()
        return torch.cuda.memory_allocated()
    return resident_bytes()


def leak_calls(output_bytes: int, device: str) -> int:
    """How many calls memory_use makes: enough that keeping LEAK_FRACTION of each output would grow
    memory by LEAK_RESOLUTION_BYTES."""
    needed = math.ceil(LEAK_RESOLUTION_BYTES[device] / max(LEAK_FRACTION * output_bytes, 1))
    return min(max(LEAK_CALLS, needed), LEAK_MAX_CALLS)


@contextmanager
def frozen_heap():
    """Collect every generation once, then freeze what survives (gc.freeze): memory_use's collections
    inside then walk only the objects made since, not the whole heap (torch and torch.compile's
    hundreds of thousands), which made them most of a short sweep. Every object frozen was alive at
    the freeze and is still freed by its references; gc.unfreeze at the end returns them to the collector."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def memory_use(call: Callable[[], object], device: str, output_bytes: int) -> tuple[float, float]:
    """(peak bytes of one call above what was held before it, bytes retained per call over leak_calls
    calls whose outputs are dropped): the module's docstring says how each device measures them."""
    gc.collect()
    start = allocated_bytes(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    high_water = device == "cpu" and _reset_resident_peak()
    output = call()
    if device == "cuda":
        peak = torch.cuda.max_memory_allocated() - start
    else:
        peak = (_resident_peak() if high_water else allocated_bytes(device)) - start
    del output
    gc.collect()
    calls = leak_calls(output_bytes, device)
    start = allocated_bytes(device)
    for _ in range(calls):
        call()
    gc.collect()
    return float(peak), (allocated_bytes(device) - start) / calls


def cold_call_s(impl: Callable, dtype: torch.dtype, device: str) -> float:
    """Seconds of the first forward and backward of impl in this process and dtype, on a small input:
    where builds, Triton JIT and torch.compile's compilation land, reported apart from steady state.
    nan when the call raises: the checks that follow name the failure."""
    xs = [x.requires_grad_() for x in impl.op.random_inputs(1024, dtype, device, 1.0, inputs.SEED)]
    start = time.perf_counter()
    try:
        impl(*xs).sum().backward()
    except IMPLEMENTATION_ERRORS:
        return math.nan
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def kernel_time_s(run: Callable[[], object], calls: int = 20) -> float:
    """GPU seconds per call inside kernels and copies, summed over the device events torch.profiler
    records for `calls` calls; nan if it records none (no CUPTI)."""
    activities = [torch.profiler.ProfilerActivity.CUDA]
    with core.native_messages_logged(), torch.profiler.profile(activities=activities) as profiler:
        for _ in range(calls):
            run()
        torch.cuda.synchronize()
    device_events = [e for e in profiler.events() if e.device_type == torch.autograd.DeviceType.CUDA]
    if not device_events:
        return math.nan
    return sum(e.time_range.elapsed_us() for e in device_events) / calls / 1e6

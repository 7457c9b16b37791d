"""Hostile plugins, each loaded with --plugin in a process of its own (they change the process): a GELU that patches
the clocks while it runs, and one that leaves work running.

clock-cheat: an honest F.gelu whose calls make time.perf_counter and time.thread_time skip 90% of the
time they take, so that a timer reading those clocks sees it 10x faster than it is, and the CPU-time
bound of an in-process timer (engine.clock_disagreement) moves with it: only a witness outside the
process sees through it.
"""

import threading
import time

import torch
import torch.nn.functional as F

import opbench

_real_perf_counter, _real_thread_time = time.perf_counter, time.thread_time
_hidden = 0.0  # seconds of clock-cheat calls the patched clocks do not show


def _patched_perf_counter() -> float:
    return _real_perf_counter() - _hidden


def _patched_thread_time() -> float:
    return _real_thread_time() - _hidden


time.perf_counter, time.thread_time = _patched_perf_counter, _patched_thread_time


@opbench.register("clock-cheat", description="F.gelu that makes the clocks skip 90% of its calls' time")
def clock_cheat(x):
    global _hidden
    start = _real_perf_counter()
    y = F.gelu(x)
    _hidden += 0.9 * (_real_perf_counter() - start)
    return y


BACKGROUND_S = 3.0


def _fill_then_keep_busy(x, y):
    time.sleep(0.001)
    y.copy_(F.gelu(x))
    work, until = torch.randn(1 << 16), _real_perf_counter() + BACKGROUND_S
    while _real_perf_counter() < until:
        F.gelu(work)


@opbench.register("background-fill", description="returns at once; a thread fills the output and keeps working")
def background_fill(x):
    y = torch.empty_like(x)
    threading.Thread(target=_fill_then_keep_busy, args=(x.detach(), y), daemon=True).start()
    return y

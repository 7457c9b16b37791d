"""Cold-cache timing: the last-level cache's size read from the machine, and an eviction pass over twice that many
bytes before each timed call, outside the timed region.

Warm, consecutive calls read windows of one buffer 64 elements apart, so a tensor that fits in the
cache is timed from the cache, and so is the copy yardstick: the limit is the cache's. Cold, every
timed call (the yardsticks' too) reads an input and writes an output no cache holds: a block is one
call, made after every cache line was replaced by a pass that reads and writes EVICTION_FACTOR times
the last-level cache (triton's do_bench zeroes a 256 MB buffer between calls for the same reason).
docs/methodology.md, "Warm and cold".
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import torch

CACHES = ("warm", "cold")
EVICTION_FACTOR = 2  # the pass's bytes over the last-level cache's: replacement is not exactly LRU
SYSFS = Path("/sys/devices/system/cpu/cpu0/cache")


def _sysfs_size(text: str) -> int:
    """A sysfs cache size ('491520K', '2048K', '32M') in bytes."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = text.strip()
    return int(text[:-1]) * units[text[-1]] if text[-1] in units else int(text)


def last_level_cache_bytes(device: str) -> int:
    """The largest cache in front of the device's memory: on CUDA the GPU's L2, on the CPU the
    highest-level data or unified cache of CPU 0 in sysfs (sysconf's L3 where sysfs has none)."""
    if device == "cuda":
        return torch.cuda.get_device_properties(torch.cuda.current_device()).L2_cache_size
    levels = {}
    for index in SYSFS.glob("index*"):
        try:
            if (index / "type").read_text().strip() != "Instruction":
                levels[int((index / "level").read_text())] = _sysfs_size((index / "size").read_text())
        except (OSError, ValueError):
            continue
    if levels:
        return levels[max(levels)]
    size = os.sysconf("SC_LEVEL3_CACHE_SIZE") if "SC_LEVEL3_CACHE_SIZE" in os.sysconf_names else 0
    if size <= 0:
        raise RuntimeError(f"--cache cold: no cache size in {SYSFS} nor sysconf: the eviction pass has no size")
    return size


@functools.cache
def eviction_buffer(device: str) -> torch.Tensor:
    """The eviction pass's buffer, EVICTION_FACTOR times the last-level cache, allocated once per process."""
    return torch.zeros(EVICTION_FACTOR * last_level_cache_bytes(device) // 4, dtype=torch.float32, device=device)


def evict(device: str) -> None:
    """Read and write every line of the eviction buffer (every thread takes a share, so each core's
    private caches are swept too); the timed region starts after it (engine.clock synchronizes CUDA)."""
    eviction_buffer(device).add_(1.0)

"""pytest-benchmark suite: forward, backward and forward+backward of every available implementation.

Benchmarks group by device, dtype, direction and size, so pytest-benchmark's table compares the
implementations side by side. Each records what it timed and its bandwidth in extra_info. Every
implementation is checked against the reference before it is timed.
"""

import pytest
import torch

import opbench
from benchmarks.conftest import DEVICES, DTYPES, sizes
from opbench import check, timing
from opbench.registry import dtype_name

CASES = [
    (impl, device, dtype, direction, numel)
    for device in DEVICES
    for dtype in DTYPES
    for direction in timing.DIRECTIONS
    for numel in sizes(device)
    for impl in opbench.implementations(device, dtype)
]


def case_id(case):
    impl, device, dtype, direction, numel = case
    return f"{impl.name}-{device}-{dtype_name(dtype)}-{direction}-{numel}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_gelu(benchmark, case):
    impl, device, dtype, direction, numel = case
    problem = check.not_ready(impl, device, dtype)
    if problem:
        pytest.skip(f"{impl.name} not timed: {': '.join(problem)}")
    benchmark.group = f"{device} {dtype_name(dtype)} {direction} n={numel}"
    run = timing.make_runner(impl, direction, numel, dtype, device)
    if device == "cuda":
        def timed():  # pytest-benchmark reads a wall clock: wait for the kernels
            run()
            torch.cuda.synchronize()
    else:
        timed = run
    benchmark(timed)
    moved = timing.bytes_moved(direction, numel, dtype)
    benchmark.extra_info.update(
        implementation=impl.name, device=device, dtype=dtype_name(dtype), direction=direction,
        numel=numel, bytes=moved, threads=torch.get_num_threads(),
        gbps=moved / benchmark.stats.stats.median / 1e9 if benchmark.stats else None,
    )

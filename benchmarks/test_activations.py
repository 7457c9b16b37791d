"""pytest-benchmark suite: forward, backward and forward+backward of every available implementation of every op, on the
timing engine of `opbench bench`.

Each benchmark round is one block of calls on windows it has not seen (timing.Workload, refreshed by
pytest-benchmark's untimed setup, which then makes one call on the calibration's input, as
`opbench bench` does before each block), so pytest-benchmark's statistics are per block; extra_info
records the calls per block and the median per call. After the rounds, the outputs of the last
round's first and last calls are verified against the float64 reference, as `opbench bench` does;
a wrong one fails the benchmark. pytest-benchmark cannot interleave implementations: for paired
ratios with intervals, use `opbench bench`.
"""

import pytest
import torch

import opbench
from benchmarks.conftest import DEVICES, DTYPES, ROUNDS, sizes
from opbench import check, timing
from opbench.devices import dtype_name
from opbench.registry import settings

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
    return f"{impl.op.name}-{impl.name}-{device}-{dtype_name(dtype)}-{direction}-{numel}"


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_activation(benchmark, case):
    impl, device, dtype, direction, numel = case
    problem = check.not_ready(impl, device, dtype)
    if problem:
        pytest.skip(f"{impl.name} not timed: {': '.join(problem)}")
    with settings([impl]):  # what it needs while timed (compiled: torch.compile's settings)
        benchmark.group = f"{impl.op.name} {device} {dtype_name(dtype)} {direction} n={numel}"
        timed_case = timing.Case(impl.op, direction, numel, dtype, device)
        probe = timing.Workload(timed_case, windows=1, seed=timing.PROBE_SEED)
        warm_up = timing.calls_for(impl, direction, probe, 1, baseline=False)[0]
        count = timing.calibrate(warm_up, device, timing.BLOCK_S)
        workload = timing.Workload(timed_case, windows=timing.windows_for(timed_case, count))
        rounds, kept = iter(range(ROUNDS)), {}

        def setup():  # untimed: new values in place, the calls of this round, one call on the probe (timing.py)
            workload.refresh(next(rounds))
            warm_up()
            return (timing.calls_for(impl, direction, workload, count, baseline=False),), {}

        def block(calls):
            kept.clear()
            kept[0] = calls[0]()
            for call in calls[1:]:
                kept[len(calls) - 1] = call()
            if device == "cuda":  # pytest-benchmark reads a wall clock: wait for this stream's work
                torch.cuda.current_stream().synchronize()

        benchmark.pedantic(block, setup=setup, rounds=ROUNDS, iterations=1)
        problem = workload.restore_if_changed() or timing.verify(kept, workload, count, ROUNDS - 1)
    assert problem is None, f"{impl.name} failed verification: {problem}"
    moved = timing.bytes_moved(direction, numel, dtype)
    per_call = benchmark.stats.stats.median / count if benchmark.stats else None
    benchmark.extra_info.update(
        op=impl.op.name,
        implementation=impl.name,
        device=device,
        dtype=dtype_name(dtype),
        direction=direction,
        numel=numel,
        bytes=moved,
        threads=torch.get_num_threads(),
        calls_per_block=count,
        median_per_call_s=per_call,
        gbps=moved / per_call / 1e9 if per_call else None,
    )

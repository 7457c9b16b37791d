"""pytest-benchmark suite: forward, backward and forward+backward of every available implementation of every op, on the
timing engine of `opbench bench`.

Each test is one pass of `opbench bench`'s CaseTimer with a single entry: its calibration, its
windows, its blocks (each after its untimed warm-up call, made in pytest-benchmark's untimed setup)
and its verification of every block's kept outputs (a random call and the last), in the next setup
and after the last round. The only difference is the clock: pytest-benchmark's around Block.run, so
its statistics are per block; extra_info records the calls per block and the median per call.
pytest-benchmark times one callable per test and cannot interleave implementations: for paired
ratios with intervals, use `opbench bench`.
"""

import pytest
import torch

import opbench
from benchmarks.conftest import DEVICES, DTYPES, ROUNDS, sizes
from opbench import core
from opbench.core import Status
from opbench.correctness import check
from opbench.spec.devices import dtype_name
from opbench.spec.registry import settings
from opbench.timing import casetimer, workloads

CASES = [
    (impl, device, dtype, direction, numel)
    for device in DEVICES
    for dtype in DTYPES
    for direction in core.DIRECTIONS
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
        timer = casetimer.CaseTimer({impl.name: impl}, workloads.Case(impl.op, direction, numel, dtype, device))
        workload = timer.start_pass()
        measured = timer.results[impl.name]
        assert measured.status == Status.OK, f"{impl.name} failed calibration: {measured.detail}"
        last = {}  # the last block's kept results, count and round: checked in the next setup, and after all

        def check_last():
            return timer.check_block(impl.name, workload, last["kept"], last["count"], last["round"])

        def setup():  # untimed: check the last block; new values in place; the next block after its warm-up call
            problem = check_last() if last else None
            assert problem is None, f"{impl.name} failed verification: {problem}"
            round_index = last["round"] + 1 if last else 0
            workload.refresh(round_index)
            block = timer.prepare_block(impl.name, workload)
            last.clear()
            last.update(kept={}, count=len(block.calls), round=round_index)
            return (block, last["kept"]), {}

        def run(block, kept):
            kept.update(block.run())
            if device == "cuda":  # pytest-benchmark reads a wall clock: wait for this stream's work
                torch.cuda.current_stream().synchronize()

        benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
        problem = check_last()
    assert problem is None, f"{impl.name} failed verification: {problem}"
    count = timer.results[impl.name].calls_per_block
    moved = core.bytes_moved(direction, numel, dtype)
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

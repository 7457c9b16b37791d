"""The one timing engine: entries timed in shuffled rounds of blocks, each block after one untimed warm-up call, each
block's kept outputs checked once it ends.

Every timed thing in opbench goes through here: `opbench bench` (timing.casetimer: the cases of a
sweep, in passes), the step profiler (training.stepprofile: training steps, one pass) and the
pytest-benchmark suite (benchmarks/: one entry per test, pytest-benchmark's clock around
Block.run). docs/methodology.md says why each piece is there.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from opbench.core import IMPLEMENTATION_ERRORS, Status, describe
from opbench.timing import witness

MAX_CALLS = 2000  # calls per block at most


def clock(device: str) -> Callable[[], float]:
    """time.perf_counter, after the current CUDA stream's work on CUDA: what the next op on this stream
    would wait for, no more (work left on a side stream shows up as wrong outputs, not as speed)."""
    if device == "cuda":

        def current_stream_clock() -> float:
            torch.cuda.current_stream().synchronize()
            return time.perf_counter()

        return current_stream_clock
    return time.perf_counter


@dataclass
class Block:
    """A block of no-argument calls, each made exactly once, and the indices of the calls whose
    results are kept for verification."""

    calls: list[Callable[[], object]]
    keep: set[int]

    def __post_init__(self):
        # The runs of calls between kept ones, sliced now: nothing but the calls happens in run().
        self.segments, start = [], 0
        for index in sorted(self.keep):
            self.segments.append((self.calls[start:index], index))
            start = index + 1
        self.segments.append((self.calls[start:], None))

    def run(self) -> dict[int, object]:
        """Make every call in order; the kept calls' results."""
        kept = {}
        for run_before, index in self.segments:
            for call in run_before:
                call()
            if index is not None:
                kept[index] = self.calls[index]()
        return kept


# A thread uses at most one second of CPU time per second of wall time: the timing thread's CPU
# time (the kernel's, read by that thread, so up to date) bounds a block's wall time from below.
# (The process's CPU time would not: the kernel adds other threads' time at its ticks, so over a
# 20 ms block it can exceed the cores' worth.) The margins cover the two clocks' resolutions.
CPU_MARGIN, CPU_SLACK_S = 1.1, 2e-4


def clock_disagreement(wall_s: float, cpu_s: float) -> str | None:
    """Why a block's wall time cannot be true, None if it can: wall >= the timing thread's CPU time.
    A clock patched by code under measurement (time.perf_counter made to skip) fails this as soon
    as it hides more than a tenth of a block the thread spent computing."""
    if wall_s >= cpu_s / CPU_MARGIN - CPU_SLACK_S:
        return None
    return (
        f"timer disagrees (the clock says {1e3 * wall_s:.3g} ms, the timing thread used {1e3 * cpu_s:.3g} ms of "
        "CPU time in it)"
    )


def time_block(block: Block, device: str, label: tuple | None = None) -> tuple[float, dict[int, object], str | None]:
    """Seconds per call of one block on `device`'s clock, the kept results, and clock_disagreement; a
    block with a label (its row's key) is marked for a witnessing parent process (timing.witness).

    Each call is made once: torch.utils.benchmark's Timer.timeit runs its statement twice as warm-up
    before the timed run, which would show every timed call its input first (a result cached by the
    input's values would serve the timed call, correct and free) and triple the work. The thread
    count is the process's: nothing here changes it."""
    now = clock(device)
    began = now()  # on CUDA: after the stream's earlier work, which must not count as this block's CPU time
    witness.begin(label)
    cpu_began = time.thread_time()
    kept = block.run()
    cpu = time.thread_time() - cpu_began
    wall = now() - began
    witness.end(label, wall)
    return wall / len(block.calls), kept, clock_disagreement(wall, cpu)


def calibrate(call: Callable[[], object], device: str, block_s: float) -> int:
    """Calls per block: enough for block_s, after one warm-up call."""
    now = clock(device)
    call()
    count = 1
    while True:
        start = now()
        for _ in range(count):
            call()
        elapsed = now() - start
        if elapsed >= block_s / 10 or count >= MAX_CALLS:
            return max(1, min(MAX_CALLS, round(count * block_s / max(elapsed, 1e-9))))
        count *= 10


@dataclass
class Measured:
    """One entry's result: seconds per call of each round, pass by pass, and its status."""

    passes: list[list[float]] = field(default_factory=list)
    status: Status = Status.OK
    detail: str = ""
    calls_per_block: int = 0  # in its latest pass (each pass calibrates anew)
    kernel_s: float = math.nan
    peak_bytes: float = math.nan  # memory one call holds at its peak above what was held before it
    retained_bytes_per_call: float = math.nan  # what calls keep after their outputs are dropped: a leak if large
    saved_bytes: float = math.nan  # what a forward with autograd saves for backward beyond its inputs
    keeps_layout: bool | None = None  # whether its output has its input's strides
    busy: list[str] = field(default_factory=list)  # per pass timed on a busy machine: what timing.quiet saw

    @property
    def rounds(self) -> int:
        return sum(map(len, self.passes))


# A block's outcome: seconds per call, and what was wrong with its kept results (None: nothing).
Timed = tuple[float, "str | None"]


class Rotation:
    """Named entries timed in rounds: in each round every live entry runs one block, in an order
    shuffled per round, so that drift and a neighbour's noise hit all of them alike and each round
    gives a paired sample. An entry whose block raises (ERROR) or whose results are wrong
    (FAILED_VERIFICATION: its seconds stand) leaves the rotation; the others go on."""

    def __init__(self, names, seed: int = 0):
        self.results = {name: Measured() for name in names}
        self.rng = random.Random(seed)
        self.rounds_done = self.passes_done = 0

    def live(self) -> list[str]:
        return [name for name, measured in self.results.items() if measured.status == Status.OK]

    def fail(self, name: str, status: Status, problem: BaseException | str) -> None:
        detail = describe(problem) if isinstance(problem, BaseException) else problem
        self.results[name].status, self.results[name].detail = status, detail

    def begin_pass(self) -> None:
        self.passes_done += 1
        for name in self.live():
            self.results[name].passes.append([])

    def round(self, run_block: Callable[[str, int], Timed]) -> None:
        """One round: run_block(name, round_index) for each live entry in a shuffled order."""
        round_index, self.rounds_done = self.rounds_done, self.rounds_done + 1
        order = self.live()
        self.rng.shuffle(order)
        for name in order:
            try:
                seconds, problem = run_block(name, round_index)
            except IMPLEMENTATION_ERRORS as error:  # this entry's failure, never the run's end
                self.fail(name, Status.ERROR, error)
                continue
            self.results[name].passes[-1].append(seconds)  # timed: the seconds stand, verified or not
            if problem is not None:
                self.fail(name, Status.FAILED_VERIFICATION, problem)

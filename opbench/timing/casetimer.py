"""Verified timing of one case: every entry (the implementations and the copy yardsticks) timed in interleaved rounds,
pass after pass on fresh buffers, the outputs of its timed calls checked against the float64 reference.

The engine (timing.engine) runs the rounds and blocks; this module gives them the case's calls
(timing.workloads: windows no call has seen, rotated between rounds) and checks each block's kept
outputs. docs/methodology.md ("Verified timing") says what each step guards against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from opbench.core import IMPLEMENTATION_ERRORS, YARDSTICKS, Status, baseline_for, naming_threads_left
from opbench.correctness import tolerance
from opbench.timing import coldcache, memory, quiet, stats
from opbench.timing.engine import Block, Measured, Rotation, calibrate, time_block
from opbench.timing.workloads import PROBE_SEED, Case, IntoOutput, Workload, calls_for, outputs_of, windows_for

ROUNDS = 4  # rounds per pass
PASSES = stats.MIN_UNITS  # passes per case: the fewest whose medians give a 95% interval (stats.py)
BLOCK_S = 0.02  # target duration of one block
# Rounds per pass of a cold-cache case, at least: its blocks are one call each (timing.coldcache), so a
# pass's median needs more of them than of warm blocks of many calls.
COLD_ROUNDS = 16


@dataclass
class Passes:
    """How a case is timed: `passes` passes of `rounds` rounds of blocks of about block_s seconds; with
    target_width (0.05 for +-5%), more passes, up to max_passes, while any implementation's 95% interval
    is wider than that. The interval narrows as passes are added: a noisy machine pays in time, not in
    uncertainty, up to the cap."""

    rounds: int = ROUNDS
    passes: int = PASSES
    block_s: float = BLOCK_S
    target_width: float | None = None
    max_passes: int = 0


ONE_PASS = Passes(passes=1)


def verify(
    kept: dict[int, object], workload: Workload, count: int, round_index: int, into_output: bool = False
) -> str | None:
    """None when every kept output (each input's gradient, for a backward) is right and owns its memory
    (or, into_output, is the out= tensor its call was given); else what was wrong, naming the element."""
    case = workload.case
    expected = workload.expected()
    storages = {x.untyped_storage().data_ptr(): "its input" for x in workload.xs}
    for index, result in sorted(kept.items()):
        where = f"call {index + 1} of {count} in round {round_index + 1}"
        window = index % workload.windows  # call k ran on window k mod windows (calls_for)
        xs = workload.plain[window]
        outputs = outputs_of(result)
        if len(outputs) != len(expected):
            return f"{where}: returned {len(outputs)} tensors, expected {len(expected)}"
        for k, (got, reference) in enumerate(zip(outputs, expected)):
            for attribute, value, want in (
                ("shape", tuple(got.shape), case.shape),
                ("dtype", got.dtype, case.dtype),
                ("device", got.device, workload.x.device),
            ):
                if value != want:
                    return f"{where}: output has {attribute} {value}, expected {want}"
            if into_output:  # its window's output, which two calls of a long block may share
                if got.data_ptr() != workload.outputs[window].data_ptr():
                    return f"{where}: returned a tensor other than the out= tensor it was given"
            else:
                storage = got.untyped_storage().data_ptr()
                if storage in storages:
                    return f"{where}: output shares memory with {storages[storage]}"
                storages[storage] = f"the output of call {index + 1}"
            # As in check_forward and check_backward: the other inputs' magnitudes, and |grad| for a gradient.
            scale = tolerance.other_inputs_scale(xs, k)
            if case.direction != "fwd":
                scale = workload.grads[window].abs() * scale
            want = workload.window(reference, window)
            element = tolerance.first_beyond(*tolerance.error_and_allowed(got, want, case.dtype, atol_scale=scale))
            if element >= 0:  # a flat index in the view's logical order, as error_and_allowed flattens
                return (
                    f"{where}: element {element} is {got.flatten()[element].item():.6g}, expected "
                    f"{want.flatten()[element].item():.6g} (input {xs[0].flatten()[element].item():.6g})"
                )
    return None


def interval_width(passes: dict[str, list[list[float]]], name: str) -> float:
    """Half the width of name's 95% interval relative to its median: of its ratio to its baseline
    (baseline_for), or of its own time for the baseline itself. nan until measurable."""
    base = baseline_for(name)
    if name == base or base not in passes:
        interval = stats.interval(passes[name])
    else:
        interval = stats.paired_ratio(passes[name], passes[base])
    return (interval.high - interval.low) / 2 / interval.median


class CaseTimer(Rotation):
    """One case's entries (name -> callable, YARDSTICKS included), timed pass by pass (run_pass): each
    pass calibrates its blocks anew and times `rounds` interleaved, verified rounds on a fresh Workload.
    Whatever a run would decide once and that moves its times (where the buffers land, how many calls
    a block makes, how many windows the buffer holds) is drawn again per pass, so that its effect is
    in the spread of the passes, which the interval covers, rather than in the difference between
    two runs, which it would not.

    An exception anywhere (calibration, graph building, a timed call, verification) ends that entry
    alone: its Measured has status ERROR and the exception's first line, and the others go on.
    """

    def __init__(self, entries: dict[str, Callable], case: Case, block_s: float = BLOCK_S, seed: int = 0):
        super().__init__(entries, seed)
        self.entries, self.case, self.block_s = entries, case, block_s
        self.warm_ups: dict[str, Callable[[], object]] = {}  # per pass: each entry's call on the calibration's input

    def wants_pass(self, plan: Passes) -> bool:
        """Whether to time another pass under plan (Passes; intervals: interval_width)."""
        done = self.passes_done
        if not self.live():
            return False
        if done < plan.passes:
            return True
        if plan.target_width is None or done >= plan.max_passes:
            return False
        timed = {name: self.results[name].passes for name in self.live()}
        return any(interval_width(timed, name) > plan.target_width for name in timed if name not in YARDSTICKS)

    @property
    def cold(self) -> bool:
        return self.case.cache == "cold"

    def start_pass(self) -> Workload:
        """Calibrate each live entry's calls per block on the probe's input (another seed than the timed
        windows'; cold: one call per block, after one warm-up), then a fresh Workload with a window for
        every call of the longest block."""
        probe = Workload(self.case, windows=1, seed=PROBE_SEED)
        for name in self.live():
            with naming_threads_left(name):
                try:
                    self.warm_ups[name] = call = calls_for(
                        self.entries[name], self.case.direction, probe, 1, name in YARDSTICKS
                    )[0]
                    if self.cold:
                        call()
                    self.results[name].calls_per_block = (
                        1 if self.cold else calibrate(call, self.case.device, self.block_s)
                    )
                except IMPLEMENTATION_ERRORS as error:  # a crash is this entry's row, never the run's end
                    self.fail(name, Status.ERROR, error)
        longest = max((self.results[name].calls_per_block for name in self.live()), default=1)
        workload = Workload(self.case, windows_for(self.case, longest))
        self.begin_pass()
        return workload

    def prepare_block(self, name: str, workload: Workload) -> Block:
        """name's block on this round's windows, after its untimed warm-up call (its output dropped
        before the block allocates) and, cold, the eviction pass: the block times calls made back to back."""
        count = self.results[name].calls_per_block
        calls = calls_for(self.entries[name], self.case.direction, workload, count, name in YARDSTICKS)
        block = Block(calls, {self.rng.randrange(count), count - 1})
        self.warm_ups[name]()
        if self.cold:
            coldcache.evict(self.case.device)
        return block

    def check_block(self, name: str, workload: Workload, kept: dict[int, object], count: int, round_index: int):
        """What was wrong with a block's inputs or kept outputs, None when nothing."""
        problem = workload.restore_if_changed()
        if problem is None and name not in YARDSTICKS:
            problem = verify(kept, workload, count, round_index, isinstance(self.entries[name], IntoOutput))
        return problem

    def _timed_block(self, name: str, workload: Workload, round_index: int):
        try:
            block = self.prepare_block(name, workload)
            count = len(block.calls)
            seconds, kept, disagreement = time_block(block, self.case.device, self.case.row_key(name))
            del block  # the calls (and bwd's graphs) go before verification allocates
            return seconds, self.check_block(name, workload, kept, count, round_index) or disagreement
        except IMPLEMENTATION_ERRORS:
            workload.restore_if_changed()
            raise

    def run_pass(self, rounds: int) -> None:
        rounds = max(rounds, COLD_ROUNDS) if self.cold else rounds
        background = quiet.guard()  # before the pass allocates or calibrates anything
        workload = self.start_pass()
        if background is not None:
            for name in self.live():
                self.results[name].busy.append(f"pass {self.passes_done}: {background.note()}")
        for _ in range(rounds):
            workload.refresh(self.rounds_done)
            self.round(lambda name, round_index: self._timed_block(name, workload, round_index))
        if self.passes_done == 1:
            self._measure_memory(workload)

    def _measure_memory(self, workload: Workload) -> None:
        """Each implementation's memory use (timing.memory), whether its output keeps its input's layout,
        and, on CUDA, kernel time: after the timing, never inside it."""
        with memory.frozen_heap():
            for name in self.live():
                if name in YARDSTICKS:
                    continue
                try:
                    call = calls_for(self.entries[name], self.case.direction, workload, 1, False)[0]
                    measured = self.results[name]
                    measured.peak_bytes, measured.retained_bytes_per_call = memory.memory_use(
                        call, self.case.device, self.case.tensor_bytes
                    )
                    if not isinstance(self.entries[name], IntoOutput):
                        measured.saved_bytes = memory.saved_bytes(self.entries[name], workload.leaves[0])
                        with torch.no_grad():
                            output = self.entries[name](*workload.plain[0])
                        measured.keeps_layout = output.stride() == workload.plain[0][0].stride()
                    if self.case.device == "cuda":
                        measured.kernel_s = memory.kernel_time_s(call)
                except IMPLEMENTATION_ERRORS as error:
                    self.fail(name, Status.ERROR, error)


def measure_case(
    entries: dict[str, Callable], case: Case, plan: Passes = ONE_PASS, seed: int = 0
) -> dict[str, Measured]:
    """One case alone (CaseTimer): its passes one after the other, as many as plan asks."""
    timer = CaseTimer(entries, case, plan.block_s, seed)
    while timer.wants_pass(plan):
        timer.run_pass(plan.rounds)
    return timer.results

"""Verified, interleaved timing: every implementation of one op's case is timed in shuffled rounds, pass after pass, on
inputs it has not seen, and the outputs of its timed calls are checked afterwards.

A case is (op, direction, numel, dtype, device). Its entries (the implementations, and two copy
baselines) are timed in passes of `rounds` rounds; in each round every entry runs one block of calls,
in an order shuffled per round, so drift and a neighbour's noise hit all of them alike and each round
gives a paired sample. Each pass starts from fresh buffers (new allocations, new addresses), and a
sweep (bench.py) runs every case's first pass before any case's second: a case's passes sample the
machine's states over the whole sweep, and they, not the rounds, are the independent units of its
interval (stats.py says why, with the measurement). With a target width, passes go on until every
interval is that narrow, up to a cap (`bench --target-width 5`).

Every block follows one untimed call of its entry on the calibration's input (another seed's values):
a block times calls made back to back, as a training step makes them right after the previous step
freed its output, not the first call after a pause. Where one block is one call (2^24 on a CPU) the
difference is large on a VM that hands freed memory back to its host: on this project's 2-core VM
(virtio-balloon free page reporting, in 2 MiB blocks), cpp's forward at 2^24 took 15 ms a call back
to back and 75 ms 3 s after its last call, whose freed huge pages the host had taken back and faulted
in again; F.gelu's 4 KiB pages took 40 ms either way.

Inputs cannot be cached. The inputs are windows of one buffer, SHIFT elements apart: every call of a
block gets its own window (its own pointer, and different values at every position). Between rounds
the buffer's values are replaced (rotated) in place without bumping its version counter, so a result
kept from an earlier call, whatever it was keyed on (pointer, shape, version, some of the values), is
wrong now. After each block, outside the timed region: the outputs of two of its timed calls (one at
a random position, and the last) are compared with the float64 reference under check.TOLERANCES,
must have their own storage (not the input's, not each other's), and the input buffer must be
unchanged. On CUDA the timer synchronizes the current stream only, as a user's next op would wait,
so work left running on a side stream shows up as wrong outputs, not as speed.

Bytes moved count each tensor an op must touch once (tensors of n elements of s bytes):
  fwd      reads x, writes y                         2 n s
  bwd      reads grad and x, writes grad_input       3 n s
  fwd+bwd  both                                      5 n s
GB/s = bytes moved / median time. Two baselines, timed in the same rounds, bound a forward:
  COPY   out.copy_(x) into a tensor allocated once a pass: the memory-bandwidth limit (2 n s, no allocation)
  CLONE  x.clone(): the same traffic into a fresh allocation (first-touch page faults on the CPU)
An op above 100% of COPY's bandwidth is a measurement problem (caches, a skipped write), not a win.

Kernel time apart from allocation: an implementation's out= variant (registry forward_out and
backward_out) is its own entry, named with OUT_SUFFIX, writing into one output per window allocated
for the pass and filled with nan before every round (resident pages, nothing left to pass
for a result); its ratios are taken against torch's out= entry. At 2^24 on a CPU, a fresh output
costs first-touch page faults that can exceed the activation math: the two entries of one implementation
split its time into kernel and allocation, measured in the same rounds.

After the first pass, each implementation's memory: the peak one call holds and what calls retain once
their outputs are dropped (timing.memory_use); a call that retains about its output's size leaks.
Beside the wall time, kernel_s on CUDA is the GPU time per call spent in kernels (torch.profiler):
well below the median, the call waits on CPU-side dispatch, launches or autograd. L2 is not flushed
between calls: a block of back-to-back calls is what a training step does to an activation the
previous layer just wrote, and at the sizes where bandwidth matters the tensors exceed L2 anyway.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from opbench import check, inputs, stats
from opbench.activations import Op
from opbench.registry import BASELINE
from opbench.results import Status, first_line

DIRECTIONS = ("fwd", "bwd", "fwd+bwd")
TENSORS_TOUCHED = {"fwd": 2, "bwd": 3, "fwd+bwd": 5}
OUT_SUFFIX = " (out=)"
COPY = "copy (bandwidth limit)"
CLONE = "clone (with allocation)"
BASELINES = (COPY, CLONE)
# Elements between consecutive input windows: 64 keeps every window 128-byte aligned in every dtype
# (vectorized paths stay on), and shifts the values under each position.
SHIFT = 64
# The calibration's inputs come from other seeds than the timed ones (1 and 2): round 0's first window
# is the seed-1 buffer unrotated, and must not be the input calibration called over and over.
PROBE_SEED = 3
# Elements the buffer rotates by between rounds (a prime: no round repeats another's values).
ROTATION = 7919
ROUNDS = 4  # rounds per pass
PASSES = stats.MIN_UNITS  # passes per case: the fewest whose medians give a 95% interval (stats.py)
BLOCK_S = 0.02  # target duration of one block
MAX_CALLS = 2000
# A call that retains more than this fraction of its output's bytes, call after call, leaks.
LEAK_FRACTION = 0.5
# Calls whose retained memory is measured after the timing (timing.memory_use): at least LEAK_CALLS, and
# for small outputs enough that a leak grows memory by LEAK_RESOLUTION_BYTES, the growth memory_use
# tells apart from noise. CUDA's allocator counters are exact; the CPU's resident set moves in 4 KiB
# pages and by a page or two between readings for reasons of its own (measured: -8 to +4 KiB over 20
# calls of a 64-byte output, which had flagged F.gelu's forward+backward at 2^4 as keeping 205 bytes
# per call). At most LEAK_MAX_CALLS: at 2^16 calls a page of noise is well under a byte per call.
LEAK_CALLS = 20
LEAK_MAX_CALLS = 1 << 16
LEAK_RESOLUTION_BYTES = {"cpu": 256 << 10, "cuda": 0}
# The bwd direction keeps one forward graph (output and saved input) per window alive: at most this many bytes of them.
GRAPH_BYTES = 2 << 30


def bytes_moved(direction: str, numel: int, dtype: torch.dtype) -> int:
    return TENSORS_TOUCHED[direction] * numel * dtype.itemsize


def baseline_for(name: str) -> str:
    """The entry a ratio compares `name` with: torch, or torch's out= variant for an out= entry."""
    return BASELINE + OUT_SUFFIX if name.endswith(OUT_SUFFIX) else BASELINE


@dataclass(frozen=True)
class IntoOutput:
    """An out= variant as a timing entry: (x, out) for fwd, (grad, x, out) for bwd."""

    function: Callable

    def __call__(self, *args):
        return self.function(*args)


@dataclass(frozen=True)
class CopyIntoTarget:
    """The COPY baseline as an entry: out.copy_(x) into the pass's one target tensor (Workload.copy_target)."""


@dataclass(frozen=True)
class Case:
    op: Op
    direction: str
    numel: int
    dtype: torch.dtype
    device: str

    @property
    def tensor_bytes(self) -> int:
        """Bytes of one tensor of the case: x, grad, or an output."""
        return self.numel * self.dtype.itemsize


class Workload:
    """The input buffer of one case, its windows and the float64 reference of what each call must return."""

    def __init__(self, case: Case, windows: int, seed: int = 1):
        self.case, self.windows = case, windows
        length = case.numel + (windows - 1) * SHIFT
        self.source_x = inputs.random_input(length, case.dtype, case.device, scale=3.0, seed=seed)
        self.source_grad = inputs.random_input(length, case.dtype, case.device, scale=1.0, seed=seed + 1)
        self.x, self.grad = self.source_x.clone(), self.source_grad.clone()
        self._source_expected = self._expected = None
        self.shift = 0
        spans = [slice(i * SHIFT, i * SHIFT + case.numel) for i in range(windows)]
        self.plain = [self.x[span] for span in spans]
        self.leaves = [self.x[span].detach().requires_grad_() for span in spans]  # share storage and version
        self.grads = [self.grad[span] for span in spans]
        self.spans = spans
        self._outputs: list[torch.Tensor] | None = None
        # COPY's target, zeroed now: its pages are resident before any timing (COPY pays no page faults)
        self.copy_target = torch.zeros(case.numel, dtype=case.dtype, device=case.device)

    @property
    def outputs(self) -> list[torch.Tensor]:
        """One output tensor per window for out= entries, allocated on first use, kept for the case."""
        if self._outputs is None:
            self._outputs = [
                torch.full((self.case.numel,), math.nan, dtype=self.case.dtype, device=self.case.device)
                for _ in range(self.windows)
            ]
        return self._outputs

    def refresh(self, round_index: int) -> None:
        """Rotate the buffer's values for this round, in place, through an alias that bumps no version counter."""
        self.shift = shift = round_index * ROTATION % self.x.numel()
        self.current_x, self.current_grad = torch.roll(self.source_x, shift), torch.roll(self.source_grad, shift)
        self._expected = None
        self.x.data.copy_(self.current_x)
        self.grad.data.copy_(self.current_grad)
        for output in self._outputs or ():  # a result left from the last round must not pass for this one
            output.fill_(math.nan)

    def expected(self) -> torch.Tensor:
        """The float64 reference over the whole buffer for this round: the output (fwd) or the input gradient."""
        op = self.case.op
        if self._source_expected is None:  # once, then rotated with the buffer
            self._source_expected = (
                op.expected(self.source_x)
                if self.case.direction == "fwd"
                else op.expected_grad(self.source_grad, self.source_x)
            )
        if self._expected is None:
            self._expected = torch.roll(self._source_expected, self.shift)
        return self._expected

    def restore_if_changed(self) -> str | None:
        """None when the buffers hold what this round put there; else restore them and say what changed."""
        for what, live, current in (
            ("input", self.x, self.current_x),
            ("upstream gradient", self.grad, self.current_grad),
        ):
            if not torch.equal(live, current):  # the common case costs one comparison, no allocation
                where = int((live != current).nonzero()[0].item())
                detail = (
                    f"changed its {what}: element {where} of the buffer is {live[where].item():.6g}, "
                    f"was {current[where].item():.6g}"
                )
                self.x.data.copy_(self.current_x)
                self.grad.data.copy_(self.current_grad)
                return detail
        return None


def windows_for(case: Case, calls_per_block: int) -> int:
    """The windows a pass's Workload holds: one per call of its longest block, so that no two calls of a
    block share an input, and at least 2; for bwd at most GRAPH_BYTES of live graphs, one per window
    (calls then cycle over them, calls_for)."""
    if case.direction == "bwd":
        calls_per_block = min(calls_per_block, GRAPH_BYTES // (2 * case.tensor_bytes))
    return max(2, calls_per_block)


def calls_for(
    entry: Callable, direction: str, workload: Workload, count: int, baseline: bool
) -> list[Callable[[], object]]:
    """`count` no-argument calls of one direction, call k on window k mod windows (graphs built now for bwd)."""
    windows = [k % workload.windows for k in range(count)]
    if isinstance(entry, CopyIntoTarget):
        return [functools.partial(workload.copy_target.copy_, workload.plain[w]) for w in windows]
    if isinstance(entry, IntoOutput):
        outputs = workload.outputs
        if direction == "fwd":
            return [functools.partial(entry, workload.plain[w], outputs[w]) for w in windows]
        return [functools.partial(entry, workload.grads[w], workload.plain[w], outputs[w]) for w in windows]
    if baseline or direction == "fwd":
        return [functools.partial(entry, workload.plain[w]) for w in windows]
    if direction == "fwd+bwd":
        return [functools.partial(_forward_backward, entry, workload.leaves[w], workload.grads[w]) for w in windows]
    graphs = [entry(leaf) for leaf in workload.leaves[: min(count, workload.windows)]]
    return [
        functools.partial(torch.autograd.grad, graphs[w], workload.leaves[w], workload.grads[w], retain_graph=True)
        for w in windows
    ]


def _forward_backward(entry, x, grad):
    return torch.autograd.grad(entry(x), x, grad)


def output_of(result) -> torch.Tensor:
    """The tensor a call produced: the output of a forward, the input gradient of a backward."""
    return result[0] if isinstance(result, tuple) else result


def copy_baselines() -> dict[str, Callable]:
    return {COPY: CopyIntoTarget(), CLONE: torch.clone}


def _timer(device: str) -> Callable[[], float]:
    if device == "cuda":

        def current_stream_timer() -> float:  # what the next op on this stream would wait for, no more
            torch.cuda.current_stream().synchronize()
            return time.perf_counter()

        return current_stream_timer
    return time.perf_counter


def time_block(calls: list[Callable], keep: set[int], device: str) -> tuple[float, dict[int, object]]:
    """Seconds per call of one block, each call made exactly once, and the kept outputs.

    Once: torch.utils.benchmark's Timer.timeit runs its statement twice as warm-up before the timed
    run, which would show every timed call its input first (a result cached by the input's values
    during the warm-up would serve the timed call, correct and free) and triple the work; the one
    untimed call before a block is on another input (CaseTimer._time_block). The clock is the one
    Timer would use (_timer), at this process's thread count, which nothing here changes."""
    kept: dict[int, object] = {}
    segments, start = [], 0
    for index in sorted(keep):
        segments.append((calls[start:index], index))
        start = index + 1
    clock = _timer(device)
    began = clock()
    for run_before, index in segments:  # no per-call bookkeeping: plain loops between kept calls
        for call in run_before:
            call()
        kept[index] = calls[index]()
    return (clock() - began) / len(calls), kept


def calibrate(call: Callable[[], object], device: str, block_s: float) -> int:
    """Calls per block: enough for block_s, after one warm-up call."""
    call()
    count = 1
    while True:
        start = _timer(device)()
        for _ in range(count):
            call()
        elapsed = _timer(device)() - start
        if elapsed >= block_s / 10 or count >= MAX_CALLS:
            return max(1, min(MAX_CALLS, round(count * block_s / max(elapsed, 1e-9))))
        count *= 10


def verify(
    kept: dict[int, object], workload: Workload, count: int, round_index: int, into_output: bool = False
) -> str | None:
    """None when every kept output is right and owns its memory (or, into_output, is the out= tensor
    its call was given); else what was wrong, naming the element."""
    case = workload.case
    expected = workload.expected()
    storages = {workload.x.untyped_storage().data_ptr(): "its input"}
    for index, result in sorted(kept.items()):
        got = output_of(result)
        where = f"call {index + 1} of {count} in round {round_index + 1}"
        for attribute, value, want in (
            ("shape", tuple(got.shape), (case.numel,)),
            ("dtype", got.dtype, case.dtype),
            ("device", got.device, workload.x.device),
        ):
            if value != want:
                return f"{where}: output has {attribute} {value}, expected {want}"
        window = index % workload.windows  # call k ran on window k mod windows (calls_for)
        span = workload.spans[window]
        if into_output:  # its window's output, which two calls of a long block may share
            if got.data_ptr() != workload.outputs[window].data_ptr():
                return f"{where}: returned a tensor other than the out= tensor it was given"
        else:
            storage = got.untyped_storage().data_ptr()
            if storage in storages:
                return f"{where}: output shares memory with {storages[storage]}"
            storages[storage] = f"the output of call {index + 1}"
        # A gradient grad * f'(x) carries f's absolute error times |grad|, as in check_backward.
        scale = 1.0 if case.direction == "fwd" else workload.grad[span].abs()
        element = check.first_beyond(*check.error_and_allowed(got, expected[span], case.dtype, atol_scale=scale))
        if element >= 0:
            return (
                f"{where}: element {element} is {got[element].item():.6g}, expected "
                f"{expected[span][element].item():.6g} (input {workload.x[span][element].item():.6g})"
            )
    return None


@dataclass
class Measured:
    """One entry's result in one case: seconds per call of each round, pass by pass, and its status."""

    passes: list[list[float]] = field(default_factory=list)
    status: Status = Status.OK
    detail: str = ""
    calls_per_block: int = 0  # in its latest pass (each pass calibrates anew)
    kernel_s: float = math.nan
    peak_bytes: float = math.nan  # memory one call holds at its peak (CUDA) or adds to the process (CPU)
    retained_bytes_per_call: float = math.nan  # what calls keep after their outputs are dropped: a leak if large

    @property
    def rounds(self) -> int:
        return sum(map(len, self.passes))


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


def memory_use(call: Callable[[], object], device: str, output_bytes: int) -> tuple[float, float]:
    """(peak bytes of one call, bytes retained per call over leak_calls calls whose outputs are dropped).

    CUDA: the caching allocator's counters, exact. CPU: the process's resident set (Linux), which
    moves in pages and only when the allocator asks the kernel for memory: coarse, but a call that
    keeps its output alive grows it by the output's size every call."""
    gc.collect()
    start = allocated_bytes(device)
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    output = call()
    peak = (torch.cuda.max_memory_allocated() if device == "cuda" else allocated_bytes(device)) - start
    del output
    gc.collect()
    calls = leak_calls(output_bytes, device)
    start = allocated_bytes(device)
    for _ in range(calls):
        call()
    gc.collect()
    return float(peak), (allocated_bytes(device) - start) / calls


def interval_width(passes: dict[str, list[list[float]]], name: str) -> float:
    """Half the width of name's 95% interval relative to its median: of its ratio to its baseline
    (baseline_for), or of its own time for the baseline itself. nan until measurable."""
    base = baseline_for(name)
    if name == base or base not in passes:
        interval = stats.interval(passes[name])
    else:
        interval = stats.paired_ratio(passes[name], passes[base])
    return (interval.high - interval.low) / 2 / interval.median


class CaseTimer:
    """One case's entries (name -> callable, BASELINES included), timed pass by pass (run_pass): each
    pass calibrates its blocks anew and times `rounds` interleaved, verified rounds on a fresh Workload.
    Whatever a run would decide once and that moves its times (where the buffers land, how many calls
    a block makes, how many windows the buffer holds) is drawn again per pass, so that its effect is
    in the spread of the passes, which the interval covers, rather than in the difference between
    two runs, which it would not. (Measured: the calls per block of one entry differed by up to 2.8x
    between two back-to-back runs that calibrated once each.)

    An exception anywhere (calibration, graph building, a timed call, verification) ends that entry
    alone: its Measured has status ERROR and the exception's first line, it leaves the later passes,
    and the others go on.
    """

    def __init__(self, entries: dict[str, Callable], case: Case, block_s: float = BLOCK_S, seed: int = 0):
        self.entries, self.case, self.block_s = entries, case, block_s
        self.results = {name: Measured() for name in entries}
        self.warm_ups: dict[str, Callable[[], object]] = {}  # per pass: each entry's call on the calibration's input
        self.rng = random.Random(seed)
        self.rounds_done = self.passes_done = 0

    def _calibrate(self) -> int:
        """Each live entry's calls per block for this pass; the windows the pass's Workload needs."""
        probe = Workload(self.case, windows=1, seed=PROBE_SEED)
        for name in self.live():
            try:
                self.warm_ups[name] = calls_for(self.entries[name], self.case.direction, probe, 1, name in BASELINES)[0]
                self.results[name].calls_per_block = calibrate(self.warm_ups[name], self.case.device, self.block_s)
            except Exception as error:  # a crash is this entry's row, never the run's end
                self.fail(name, Status.ERROR, error)
        return windows_for(self.case, max((self.results[name].calls_per_block for name in self.live()), default=1))

    def live(self) -> list[str]:
        return [name for name, measured in self.results.items() if measured.status == Status.OK]

    def fail(self, name: str, status: Status, problem: Exception | str) -> None:
        detail = f"{type(problem).__name__}: {first_line(problem)}" if isinstance(problem, Exception) else problem
        self.results[name].status, self.results[name].detail = status, detail

    def wants_pass(self, passes: int, target_width: float | None, max_passes: int) -> bool:
        """Whether to time another pass: `passes` of them, and with target_width (0.05 for +-5%) more, up
        to max_passes, while any implementation's 95% interval (interval_width) is wider than that. The
        interval narrows as passes are added: a noisy machine pays in time, not in uncertainty, up to the cap."""
        done = self.passes_done
        if not self.live():
            return False
        if done < passes:
            return True
        if target_width is None or done >= max_passes:
            return False
        timed = {name: self.results[name].passes for name in self.live()}
        return any(interval_width(timed, name) > target_width for name in timed if name not in BASELINES)

    def run_pass(self, rounds: int) -> None:
        workload = Workload(self.case, self._calibrate())
        self.passes_done += 1
        live = self.live()
        for name in live:
            self.results[name].passes.append([])
        for _ in range(rounds):
            round_index, self.rounds_done = self.rounds_done, self.rounds_done + 1
            workload.refresh(round_index)
            self.rng.shuffle(live)
            for name in list(live):
                problem = self._time_block(name, workload, round_index)
                if problem is not None:
                    self.fail(name, *problem)
                    live.remove(name)
        if self.passes_done == 1:
            self._measure_memory(workload)

    def _time_block(self, name: str, workload: Workload, round_index: int) -> tuple[Status, Exception | str] | None:
        """One block of name's calls, its seconds per call appended to its current pass; else what went wrong."""
        measured, count = self.results[name], self.results[name].calls_per_block
        try:
            calls = calls_for(self.entries[name], self.case.direction, workload, count, name in BASELINES)
            keep = {self.rng.randrange(count), count - 1}
            self.warm_ups[name]()  # untimed; its output is dropped before the block allocates
            seconds, kept = time_block(calls, keep, self.case.device)
            del calls
            problem = workload.restore_if_changed()
            if problem is None and name not in BASELINES:
                problem = verify(kept, workload, count, round_index, isinstance(self.entries[name], IntoOutput))
            del kept
        except Exception as error:
            workload.restore_if_changed()
            return Status.ERROR, error
        measured.passes[-1].append(seconds)  # timed: the seconds stand, verified or not
        return None if problem is None else (Status.FAILED_VERIFICATION, problem)

    def _measure_memory(self, workload: Workload) -> None:
        """Each implementation's memory use and, on CUDA, kernel time: after the timing, never inside it."""
        for name in self.live():
            if name in BASELINES:
                continue
            try:
                call = calls_for(self.entries[name], self.case.direction, workload, 1, False)[0]
                measured = self.results[name]
                measured.peak_bytes, measured.retained_bytes_per_call = memory_use(
                    call, self.case.device, self.case.tensor_bytes
                )
                if self.case.device == "cuda":
                    measured.kernel_s = kernel_time_s(call)
            except Exception as error:
                self.fail(name, Status.ERROR, error)


def measure_case(
    entries: dict[str, Callable],
    case: Case,
    rounds: int = ROUNDS,
    passes: int = 1,
    block_s: float = BLOCK_S,
    seed: int = 0,
    target_width: float | None = None,
    max_passes: int = 0,
) -> dict[str, Measured]:
    """One case alone (CaseTimer): its passes one after the other, as many as CaseTimer.wants_pass asks."""
    timer = CaseTimer(entries, case, block_s, seed)
    while timer.wants_pass(passes, target_width, max_passes):
        timer.run_pass(rounds)
    return timer.results


def cold_call_s(impl: Callable, dtype: torch.dtype, device: str) -> float:
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

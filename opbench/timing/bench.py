"""`opbench bench` sweeps: every op's implementations x size x dtype x direction, checked first, then timed in
verified, interleaved rounds; each case's rows saved as it ends."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from opbench import core
from opbench.core import Status
from opbench.correctness import check
from opbench.reporting import results
from opbench.spec import inputs
from opbench.spec.devices import DTYPES_BY_NAME, dtype_name
from opbench.spec.registry import Implementation, settings
from opbench.timing import casetimer, engine, memory, stats, witness, workloads

# Sizes in powers of 4: 2^4 .. 2^24 on the CPU (LeNet-5's activations are 2^12-2^18 elements; below
# that a call's fixed cost is the whole cost), 2^10 .. 2^28 on CUDA; --quick keeps one.
DEFAULT_SIZES = {"cpu": [4**k for k in range(2, 13)], "cuda": [4**k for k in range(5, 15)]}
QUICK_SIZES = {"cpu": [2**16], "cuda": [2**24]}
QUICK_ROUNDS = 1  # per pass: --quick keeps casetimer.PASSES passes, for intervals of the same coverage
QUICK_BLOCK_S = 0.005
KEY = ["op", "implementation", "device", "dtype", "direction", "numel", "shape", "layout", "cache", "threads"]
MEASURED_COLUMNS = (
    "passes",
    "rounds",
    "calls_per_block",
    "median_s",
    "ci_low_s",
    "ci_high_s",
    "kernel_s",
    "bytes",
    "gbps",
    "samples_s",
    "peak_bytes",
    "retained_bytes_per_call",
    "leaks",
    "saved_bytes",
    "keeps_layout",
)


def _row(
    name: str,
    case: workloads.Case,
    measured: engine.Measured | None = None,
    status: Status = Status.OK,
    detail: str = "",
    cold_call_s: float | None = None,
    witness: str = "",
) -> dict:
    row = dict(
        op=case.op.name,
        implementation=name,
        device=case.device,
        dtype=dtype_name(case.dtype),
        direction=case.direction,
        numel=case.numel,
        shape=case.shape_text,
        layout=case.layout,
        cache=case.cache,
        status=status,
        detail=detail,
        cold_call_s=cold_call_s,
        witness=witness,
    )
    row.update(dict.fromkeys(MEASURED_COLUMNS, math.nan))  # every row has every column: untimed ones stay empty
    if measured is None:
        return row
    busy = f"busy: {'; '.join(measured.busy)}" if measured.busy else ""
    row.update(status=measured.status, detail="; ".join(filter(None, (measured.detail, busy))))
    if measured.status in (Status.OK, Status.FAILED_VERIFICATION):  # timed: the numbers stand, verified or not
        interval = stats.interval(measured.passes)
        moved = (
            core.bytes_moved("fwd", case.numel, case.dtype)  # a yardstick copies one tensor
            if name in core.YARDSTICKS
            else core.bytes_moved(case.direction, case.numel, case.dtype, len(case.op.inputs))
        )
        row.update(
            passes=len(measured.passes),
            rounds=measured.rounds,
            calls_per_block=measured.calls_per_block,
            median_s=interval.median,
            ci_low_s=interval.low,
            ci_high_s=interval.high,
            kernel_s=measured.kernel_s,
            bytes=moved,
            peak_bytes=measured.peak_bytes,
            retained_bytes_per_call=measured.retained_bytes_per_call,
            leaks=measured.retained_bytes_per_call > memory.LEAK_FRACTION * case.tensor_bytes,
            saved_bytes=measured.saved_bytes,
            keeps_layout=measured.keeps_layout,
            gbps=moved / interval.median / 1e9,
            samples_s=results.samples_text(measured.passes),
        )
    return row


# Above this many bytes of copy traffic the copy yardstick is bandwidth-bound and a faster row fails
# verification; below, it is flagged only (above_limit).
LIMIT_BYTES = 1 << 20
RATIO_COLUMNS = ["speedup_vs_torch", "speedup_low", "speedup_high", "time_vs_torch", "time_low", "time_high"]


def add_comparisons(frame: pd.DataFrame, measured: dict[str, engine.Measured]) -> pd.DataFrame:
    """Paired ratios within one case (stats.paired_ratio): speedup_vs_torch (time of torch / time; above
    1 is faster) and time_vs_torch (time / time of torch, what tables print and `compare --relative`
    compares) with their 95% intervals, only for verified rows; and the fraction of each copy
    baseline's bandwidth, with above_limit where an op beats out.copy_(x): where the copy moves at
    least LIMIT_BYTES, such a row fails verification and keeps no ratio."""
    frame = frame.copy()
    for column in (*RATIO_COLUMNS, "bandwidth_fraction", "clone_fraction"):
        frame[column] = np.nan
    frame["above_limit"] = False
    samples = {name: m.passes for name, m in measured.items() if m.status == Status.OK}
    for index, row in frame.iterrows():
        if row["status"] != Status.OK or row["implementation"] not in samples:
            continue
        mine, base = samples[row["implementation"]], core.baseline_for(row["implementation"])
        if base in samples:  # each its own median: of an even count it averages two, and 1 / average != average of 1 /
            speedup, time = stats.paired_ratio(samples[base], mine), stats.paired_ratio(mine, samples[base])
            frame.loc[index, ["speedup_vs_torch", "speedup_low", "speedup_high"]] = (
                speedup.median,
                speedup.low,
                speedup.high,
            )
            frame.loc[index, ["time_vs_torch", "time_low", "time_high"]] = time.median, time.low, time.high
        copy_bytes = core.bytes_moved("fwd", row["numel"], DTYPES_BY_NAME[row["dtype"]])
        for baseline, column in ((core.COPY, "bandwidth_fraction"), (core.CLONE, "clone_fraction")):
            if baseline in samples:
                fraction = stats.paired_ratio(samples[baseline], mine).median * row["bytes"] / copy_bytes
                frame.loc[index, column] = fraction
        above = bool(frame.loc[index, "bandwidth_fraction"] > 1.0)
        frame.loc[index, "above_limit"] = above
        bandwidth_bound = copy_bytes >= LIMIT_BYTES  # below, a call's fixed cost is most of it, copy_'s too
        if above and bandwidth_bound and row["implementation"] not in core.YARDSTICKS:  # never a speedup
            frame.loc[index, RATIO_COLUMNS] = np.nan
            frame.loc[index, "status"] = Status.FAILED_VERIFICATION
            problem = (
                f"above the bandwidth limit: moved its bytes at {100 * frame.loc[index, 'bandwidth_fraction']:.0f}% "
                "of out.copy_(x)'s speed (a skipped write, a cached result or a patched clock, not a speedup)"
            )
            frame.loc[index, "detail"] = "; ".join(filter(None, (problem, row.get("detail"))))
    return frame


WITNESS_KEY = ["op", "implementation", "dtype", "direction", "shape", "layout", "cache"]  # workloads.Case.row_key


def witnessed(frame: pd.DataFrame, seen: dict) -> pd.DataFrame:
    """A child's rows as its witnessing parent saw their blocks (witness.refusal): each row WITNESSED;
    a timed row whose times the parent did not see fails verification and keeps no ratio, and a case
    whose baseline's times fail keeps no ratio at all."""
    frame = frame.astype({"detail": object})  # a CSV's empty details read as float nan
    frame["witness"] = core.WITNESSED
    refused_cases = set()
    for index, row in frame.iterrows():
        if row["status"] not in (Status.OK, Status.FAILED_VERIFICATION) or not row["rounds"] > 0:
            continue
        key = tuple(str(row[column]) for column in WITNESS_KEY)
        problem = witness.refusal(seen.get(key), int(row["rounds"]))
        if problem:
            frame.loc[index, RATIO_COLUMNS] = np.nan
            frame.loc[index, ["status", "detail"]] = Status.FAILED_VERIFICATION, problem
            if row["implementation"] == core.BASELINE:
                refused_cases.add(key[:1] + key[2:])
    for index, row in frame.iterrows():
        if tuple(str(row[column]) for column in WITNESS_KEY if column != "implementation") in refused_cases:
            frame.loc[index, RATIO_COLUMNS] = np.nan
    return frame


OUTPUTS = ("fresh", "preallocated", "both")


def entries_for(case: workloads.Case, usable: list[Implementation], outputs: str) -> tuple[dict, list[dict]]:
    """A case's timing entries (the copy baselines, the implementations as called, their out= variants
    as asked), and unavailable rows for implementations asked for preallocated outputs that have no
    out= variant. Forward+backward goes through autograd: it has no out= entries."""
    entries = workloads.yardsticks()
    rows = []
    if outputs != "preallocated":
        entries.update({impl.name: impl for impl in usable})
    if outputs != "fresh" and case.direction != "fwd+bwd":
        for impl in usable:
            function = impl.forward_out if case.direction == "fwd" else impl.backward_out
            if function is not None:
                entries[impl.name + core.OUT_SUFFIX] = workloads.IntoOutput(function)
            elif outputs == "preallocated":
                rows.append(_row(impl.name, case, None, Status.UNAVAILABLE, "no out= variant"))
    return entries, rows


@dataclass
class SweepConfig(casetimer.Passes):
    """What a sweep times and how: the one source of `opbench bench`'s defaults. dtypes and sizes left
    None are the device's defaults (default_dtypes, DEFAULT_SIZES; no sizes where shapes are given);
    each size is a 1-D shape, and every shape is timed in every layout it can have
    (spec.inputs.layout_problem), in each cache regime (timing.coldcache); quick() is --quick's sweep."""

    device: str = "cpu"
    dtypes: tuple[torch.dtype, ...] | None = None
    sizes: tuple[int, ...] | None = None
    directions: tuple[str, ...] = core.DIRECTIONS
    outputs: str = "fresh"  # one of OUTPUTS
    shapes: tuple[tuple[int, ...], ...] = ()
    layouts: tuple[str, ...] = ("contiguous",)
    caches: tuple[str, ...] = ("warm",)

    def __post_init__(self):
        self.dtypes = tuple(self.dtypes or default_dtypes(self.device))
        self.sizes = tuple(self.sizes or (() if self.shapes else DEFAULT_SIZES[self.device]))
        self.shapes = tuple(tuple(shape) for shape in self.shapes)

    def geometries(self) -> list[tuple[tuple[int, ...], str]]:
        """(shape, layout) of every case: the sizes as 1-D shapes, then the shapes, each in each layout it can have."""
        shapes = [(n,) for n in self.sizes] + [s for s in self.shapes if s not in {(n,) for n in self.sizes}]
        return [(s, layout) for s in shapes for layout in self.layouts if not inputs.layout_problem(s, layout)]

    def cases(self, op, dtype: torch.dtype) -> list[workloads.Case]:
        """Every case of one op and dtype: each geometry in each cache regime, each direction."""
        return [
            workloads.Case(op, direction, shape, dtype, self.device, layout, cache)
            for shape, layout in self.geometries()
            for cache in self.caches
            for direction in self.directions
        ]

    @classmethod
    def quick(cls, device: str = "cpu", **fields) -> SweepConfig:
        quick = {"sizes": QUICK_SIZES[device], "rounds": QUICK_ROUNDS, "block_s": QUICK_BLOCK_S}
        return cls(**{"device": device, **quick, **fields})


def sweep(impls: list[Implementation], config: SweepConfig, on_rows: Callable[[pd.DataFrame], None] | None = None):
    """Check, then time every case (each op's implementations in the same rounds) in passes: every
    case's first pass, then every case's second, and so on (casetimer.CaseTimer), so that each case's
    passes lie the whole sweep apart. After each case's pass its rows go to on_rows (the CSV writer,
    which replaces the case's earlier rows): an interrupted sweep keeps every finished pass. Returns the
    latest rows of every case."""
    with settings(impls):  # what any of them needs while it is checked and timed
        return _sweep(impls, config, on_rows)


def _plan(impls: list[Implementation], config: SweepConfig, emit) -> list[tuple]:
    """(case, implementations to time, their first calls' seconds) for every case; the rows of
    implementations that cannot be timed (unavailable, failed checks) go to emit at once."""
    device, plan = config.device, []
    for op, dtype in [(op, dtype) for op in dict.fromkeys(impl.op for impl in impls) for dtype in config.dtypes]:
        usable, skipped, first_calls = [], [], {}
        for impl in impls:
            if impl.op != op or dtype not in impl.dtypes:
                continue
            if not impl.unavailable_reason(device):  # its first call, before the checks warm it up
                with core.naming_threads_left(impl.name):
                    first_calls[impl.name] = memory.cold_call_s(impl, dtype, device)
            # Correctness before speed: an implementation that fails its checks is not timed.
            problem = check.not_ready(impl, device, dtype)
            if problem:
                skipped += [_row(impl.name, case, None, *problem) for case in config.cases(op, dtype)]
            else:
                usable.append(impl)
        if skipped:
            emit([((op, dtype), results.to_frame(skipped, device))])
        if usable:
            plan += [(case, usable, first_calls) for case in config.cases(op, dtype)]
    return plan


def _sweep(impls: list[Implementation], config: SweepConfig, on_rows) -> pd.DataFrame:
    frames = {}  # the latest rows of each case, by case

    def emit(keyed_frames: list[tuple[object, pd.DataFrame]]) -> None:
        frames.update(keyed_frames)
        if on_rows and keyed_frames:
            on_rows(pd.concat([frame for _, frame in keyed_frames], ignore_index=True))

    plugins = {impl.name for impl in impls if impl.plugin}

    def timed_rows(case, timer, unavailable, first_calls) -> tuple[workloads.Case, pd.DataFrame]:
        rows = unavailable + [
            _row(
                name,
                case,
                m,
                cold_call_s=first_calls.get(name),
                witness=core.UNWITNESSED if name.removesuffix(core.OUT_SUFFIX) in plugins else "",
            )
            for name, m in timer.results.items()
        ]
        return case, add_comparisons(results.to_frame(rows, config.device), timer.results)

    timers = []
    for case, usable, first_calls in _plan(impls, config, emit):
        entries, unavailable = entries_for(case, usable, config.outputs)
        timers.append((case, casetimer.CaseTimer(entries, case, config.block_s), unavailable, first_calls))
    progress = tqdm(total=len(timers) * config.passes, desc=f"bench {config.device}", unit="pass")
    while pending := [t for t in timers if t[1].wants_pass(config)]:
        if progress.n + len(pending) > progress.total:  # passes beyond `passes`, for the target width
            progress.total = progress.n + len(pending)
        for timed in pending:  # rows on disk as each case's pass ends: nothing finished is lost
            timed[1].run_pass(config.rounds)
            progress.update()
            emit([timed_rows(*timed)])
    progress.close()
    return pd.concat(frames.values(), ignore_index=True) if frames else pd.DataFrame()


def failed_rows(impl: Implementation, config: SweepConfig, detail: str) -> pd.DataFrame:
    """ERROR rows for every case of one implementation that could not be measured at all."""
    return results.to_frame(
        [
            _row(impl.name, case, None, Status.ERROR, detail)
            for dtype in config.dtypes
            for case in config.cases(impl.op, dtype)
        ],
        config.device,
    )


def failures(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows whose implementation could not be timed as asked (checks, verification, errors)."""
    if frame.empty:
        return frame
    return frame[frame["status"].isin(list(core.FAILURES))].drop_duplicates(
        ["implementation", "dtype", "status", "detail"]
    )


def default_dtypes(device: str) -> list[torch.dtype]:
    return [torch.float32] if device == "cpu" else [torch.float32, torch.bfloat16]

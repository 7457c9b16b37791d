"""`opbench bench` sweeps: every implementation x size x dtype x direction, checked first, then timed."""

from __future__ import annotations

import math

import pandas as pd
import torch
from tabulate import tabulate
from tqdm import tqdm

from opbench import check, results, timing
from opbench.registry import BASELINE, Implementation, dtype_name

# Sizes in powers of 4: 2^10 .. 2^24 on the CPU, up to 2^28 on CUDA; --quick keeps two.
DEFAULT_SIZES = {"cpu": [4**k for k in range(5, 13)], "cuda": [4**k for k in range(5, 15)]}
QUICK_SIZES = {"cpu": [2**16, 2**20], "cuda": [2**20, 2**24]}
COPY = "copy (roofline)"
KEY = ["implementation", "device", "dtype", "direction", "numel"]


def parse_size(text: str) -> int:
    """'2^20', '4**5' or '1048576'."""
    text = text.strip().replace("**", "^")
    if "^" in text:
        base, exponent = text.split("^")
        return int(base) ** int(exponent)
    return int(text)


def size_label(numel: int) -> str:
    """'2^20' for powers of two, else the count itself."""
    exponent = math.log2(numel)
    return f"2^{int(exponent)}" if exponent.is_integer() else str(numel)


def _row(name, device, dtype, direction, numel, measured: timing.Timing | None, status="ok", detail="", cold_call_s=None):
    row = dict(implementation=name, device=device, dtype=dtype_name(dtype), direction=direction,
               numel=numel, status=status, detail=detail, cold_call_s=cold_call_s)
    if measured is not None:
        moved = timing.bytes_moved(direction, numel, dtype)
        row.update(vars(measured), bytes=moved, gbps=moved / measured.median_s / 1e9)
    return row


def sweep(impls: list[Implementation], device: str, dtypes, sizes, directions, min_run_time=0.5) -> pd.DataFrame:
    """Time everything; return long-format rows with speedups and roofline fractions, provenance stamped."""
    rows, plan, cold = [], [], {}
    for dtype in dtypes:
        usable = []
        for impl in impls:
            if dtype not in impl.dtypes:
                continue
            if not impl.unavailable_reason(device):  # its first call, before the checks warm it up
                cold[impl.name, dtype] = timing.cold_call_s(impl, dtype, device)
            # Correctness before speed: an implementation that fails its checks is not timed.
            problem = check.not_ready(impl, device, dtype)
            if problem:
                rows += [_row(impl.name, device, dtype, d, n, None, *problem) for d in directions for n in sizes]
            else:
                usable.append(impl)
        if usable:  # None stands for the copy roofline
            plan += [(dtype, n, d, impl) for n in sizes for d in directions for impl in [None, *usable]]
    for dtype, numel, direction, impl in tqdm(plan, desc=f"bench {device}", unit="timing"):
        if impl is None:  # the copy roofline, once per size and dtype, in the same run as the ops
            if direction == directions[0]:
                run = timing.copy_runner(numel, dtype, device)
                rows.append(_row(COPY, device, dtype, "fwd", numel, timing.measure(run, device, min_run_time)))
            continue
        run = timing.make_runner(impl, direction, numel, dtype, device)
        measured = timing.measure(run, device, min_run_time)
        rows.append(_row(impl.name, device, dtype, direction, numel, measured, cold_call_s=cold[impl.name, dtype]))
        del run  # free this runner's tensors before the next one allocates its own (2^28 on a GPU)
    return add_comparisons(results.to_frame(rows, device))


def add_comparisons(frame: pd.DataFrame) -> pd.DataFrame:
    """speedup_vs_torch (baseline time / time: above 1 is faster), its inverse time_vs_torch, and
    roofline_fraction (GB/s over the copy's GB/s at the same size and dtype)."""
    for column in ("median_s", "gbps"):  # absent when nothing could be timed
        if column not in frame:
            frame[column] = float("nan")
    timed = frame[frame["status"] == "ok"]
    base = timed[timed["implementation"] == BASELINE].set_index(["device", "dtype", "direction", "numel"])["median_s"]
    copy = timed[timed["implementation"] == COPY].set_index(["device", "dtype", "numel"])["gbps"]
    index = pd.MultiIndex.from_frame(frame[["device", "dtype", "direction", "numel"]])
    baseline_time = base.reindex(index).to_numpy()
    frame["time_vs_torch"] = frame["median_s"].to_numpy() / baseline_time
    frame["speedup_vs_torch"] = baseline_time / frame["median_s"].to_numpy()
    frame["copy_gbps"] = copy.reindex(pd.MultiIndex.from_frame(frame[["device", "dtype", "numel"]])).to_numpy()
    frame["roofline_fraction"] = frame["gbps"] / frame["copy_gbps"]
    return frame


def summary(frame: pd.DataFrame) -> str:
    """One table per device, dtype and direction: time vs torch per implementation (rows) and size."""
    blocks = []
    timed = frame[(frame["status"] == "ok") & (frame["implementation"] != COPY)]
    for (device, dtype, direction), group in timed.groupby(["device", "dtype", "direction"], sort=False):
        table = group.pivot_table(index="implementation", columns="numel", values="time_vs_torch", sort=False)
        table.columns = [size_label(n) for n in table.columns]
        blocks.append(f"{device} {dtype} {direction}: time vs {BASELINE} (below 1 is faster)\n"
                      + tabulate(table, headers="keys", floatfmt=".2f"))
    skipped = frame[frame["status"] != "ok"].drop_duplicates(["implementation", "dtype", "status"])
    blocks += [f"{r.implementation} {r.dtype}: {r.status}: {r.detail}" for r in skipped.itertuples()]
    return "\n\n".join(blocks)


def run(impls, device, dtypes, sizes, directions, csv=None, min_run_time=0.5) -> pd.DataFrame:
    frame = sweep(impls, device, dtypes, sizes, directions, min_run_time)
    if csv:
        results.save(frame, csv, KEY)
    return frame


def default_dtypes(device: str) -> list[torch.dtype]:
    return [torch.float32] if device == "cpu" else [torch.float32, torch.bfloat16]

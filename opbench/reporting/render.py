"""Long result frames as tables, for the terminal (tabulate) and the Markdown report alike: one pivot, one way to print
a ratio."""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from opbench import core
from opbench.core import YARDSTICKS, baseline_for
from opbench.spec.inputs import LAYOUTS, size_label

# Marks a ratio whose 95% interval contains 1.
NO_CLEAR_DIFFERENCE = "≈"


def is_sized(shape, layout) -> bool:
    """Whether a case is of the size sweep: a 1-D shape ('1048576', no 'x') in the contiguous layout."""
    return "x" not in str(shape) and layout == "contiguous"


def case_label(row) -> str:
    """A timed case's column: its size ('2^20') for a 1-D contiguous tensor, else shape and layout
    ('2048x14336 chunked'), ' cold' after either when timed cold; rows from before shapes are 1-D and
    contiguous, from before cold timing warm."""
    shape, layout = str(getattr(row, "shape", row.numel)), getattr(row, "layout", "contiguous")
    label = size_label(row.numel) if is_sized(shape, layout) else f"{shape} {layout}"
    return label + (" cold" if getattr(row, "cache", "warm") == "cold" else "")


def sized(frame: pd.DataFrame) -> pd.Series:
    """Rows of 1-D contiguous cases (a size sweep, is_sized), as opposed to shapes and layouts."""
    if "shape" not in frame:
        return pd.Series(True, index=frame.index)
    return pd.Series([is_sized(*case) for case in zip(frame["shape"], frame["layout"])], index=frame.index, dtype=bool)


def mebibytes(value: float) -> str:
    return "-" if pd.isna(value) else f"{value / 2**20:.3g}"


def case_order(row) -> tuple:
    layout, cache = getattr(row, "layout", "contiguous"), getattr(row, "cache", "warm")
    layout_index = LAYOUTS.index(layout) if layout in LAYOUTS else len(LAYOUTS)
    return row.numel, str(getattr(row, "shape", "")), layout_index, cache == "cold"


def by_size(group: pd.DataFrame, cell, tablefmt: str = "github") -> str:
    """One row per implementation, one column per case (case_label: size, or shape and layout, in that
    order), cells from cell(row)."""
    rows = list(group.itertuples())
    order = {case_label(r): case_order(r) for r in rows}
    table = group.assign(cell=[cell(r) for r in rows], case=[case_label(r) for r in rows]).pivot_table(
        index="implementation", columns="case", values="cell", aggfunc="first", sort=False
    )
    table = table[sorted(table.columns, key=order.get)]
    return tabulate_frame(table.reset_index(), tablefmt)


def tabulate_frame(frame: pd.DataFrame, tablefmt: str = "simple") -> str:
    return tabulate(frame, headers="keys", tablefmt=tablefmt, showindex=False, disable_numparse=True)


def ratio(median: float, low: float, high: float) -> str:
    """'0.94x [0.91, 0.97]', with NO_CLEAR_DIFFERENCE appended when the interval contains 1."""
    if math.isnan(median):
        return "-"
    unclear = f" {NO_CLEAR_DIFFERENCE}" if low <= 1.0 <= high else ""
    return f"{median:.2f}x [{low:.2f}, {high:.2f}]{unclear}"


def time_ratio_cell(row) -> str:
    """Time vs the baseline with its interval; the baseline's own cell says what it is."""
    if row.implementation == baseline_for(row.implementation):
        return "1 (baseline)"
    return ratio(row.time_vs_torch, row.time_low, row.time_high)


def duration(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def check_table(frame: pd.DataFrame, tablefmt: str = "github") -> str:
    """One row per implementation and dtype, one column per check: its status, and beside forward and
    backward their largest absolute and relative errors. Unavailable implementations are left out
    (check_notes names them)."""
    ran = frame[frame["status"] != "unavailable"]
    if ran.empty:
        return ""
    index = ["implementation", "dtype"]
    wide = ran.pivot_table(index=index, columns="check", values="status", aggfunc="first", sort=False)
    measured = ran.set_index([*index, "check"])
    table = wide.index.to_frame(index=False)
    for name in wide.columns:
        table[name] = wide[name].fillna("-").to_numpy()
        if name in ("forward", "backward"):  # the checks that measure an error, with their figures
            errors = measured.xs(name, level="check").reindex(wide.index)
            table[f"{name} max abs err"] = (
                errors["max_abs_error"].map(lambda e: "-" if pd.isna(e) else f"{e:.3g}").to_numpy()
            )
            table[f"{name} max rel err"] = (
                errors["max_rel_error"].map(lambda e: "-" if pd.isna(e) else f"{e:.3g}").to_numpy()
            )
    return tabulate_frame(table, tablefmt)


def check_notes(frame: pd.DataFrame) -> list[str]:
    """One line per failing or deviating check, and per implementation unavailable here."""
    problems = frame[frame["status"].isin(["fail", "deviating"])]
    unavailable = frame[frame["status"] == "unavailable"]
    return [f"{r.implementation} {r.dtype} {r.check} **{r.status}**: {r.detail}" for r in problems.itertuples()] + [
        f"{r.implementation}: {r.detail}" for r in unavailable.itertuples()
    ]


def ratio_tables(frame: pd.DataFrame, tablefmt: str = "github") -> list[tuple[tuple, str]]:
    """Per (device, dtype, direction) of the verified timed rows: time vs the baseline with its 95%
    interval, one row per implementation, one column per size."""
    timed = frame[(frame["status"] == "ok") & ~frame["implementation"].isin(YARDSTICKS)]
    return [
        (key, by_size(group, time_ratio_cell, tablefmt))
        for key, group in timed.groupby(["device", "dtype", "direction"], sort=False)
    ]


def bench_notes(frame: pd.DataFrame) -> list[str]:
    """Rows a reader must not miss: bandwidth above the limit (a measurement problem), leaks, and rows
    not timed or timed and wrong, each once."""
    notes = []
    if "above_limit" in frame:
        notes += [
            f"measurement problem: {r.implementation} {r.dtype} {r.direction} {case_label(r)} moved its "
            f"bytes at {100 * r.bandwidth_fraction:.0f}% of the bandwidth limit (out.copy_(x))"
            for r in frame[frame["above_limit"].eq(True)].itertuples()
        ]
    if "leaks" in frame:
        notes += [
            f"leak: {r.implementation} {r.dtype} {r.direction} {case_label(r)} keeps "
            f"{r.retained_bytes_per_call / 2**20:.2f} MiB per call after its outputs are dropped"
            for r in frame[frame["leaks"].eq(True)].itertuples()
        ]
    if "witness" in frame:
        notes += [
            f"unwitnessed: {name} is plugin code timed in the process that imported it (--in-process): its "
            "clocks could have been patched, and no other process saw its blocks"
            for name in frame.loc[frame["witness"].eq(core.UNWITNESSED), "implementation"].unique()
        ]
    not_ok = frame[frame["status"] != "ok"].drop_duplicates(["implementation", "dtype", "status", "detail"])
    return notes + [
        f"{r.implementation} ({r.dtype} {r.direction} {case_label(r)}): **{r.status}**: {r.detail}"
        for r in not_ok.itertuples()
    ]


def step_table(profile: pd.DataFrame, baseline: str, tablefmt: str = "github") -> str:
    """Per implementation: mean ms per step in each part, the activation's share, and the step time vs the baseline."""
    table = pd.DataFrame({"implementation": profile["implementation"]})
    for part in core.STEP_PARTS:
        table[f"{part} ms"] = (1e3 * profile[f"{part.replace(' ', '_')}_s"]).map(lambda v: f"{v:.2f}")
    table["activation share"] = (100 * profile["activation_share"]).map(lambda v: f"{v:.0f}%")
    table["step ms, median [95%]"] = [
        f"{1e3 * m:.2f} [{1e3 * lo:.2f}, {1e3 * hi:.2f}]"
        for m, lo, hi in zip(profile["step_s"], profile["step_low_s"], profile["step_high_s"])
    ]
    if "step_vs_baseline" in profile:
        table[f"step vs {baseline}"] = [
            ratio(m, lo, hi)
            for m, lo, hi in zip(
                profile["step_vs_baseline"], profile["step_vs_baseline_low"], profile["step_vs_baseline_high"]
            )
        ]
    return tabulate_frame(table, tablefmt)


def ulps(row) -> str:
    """An accuracy row's cell: its largest ULP error where the correct result is normal (away from a zero
    of the function), the count of nan or inf results where the reference is a number (or the reverse),
    and OVER_BUDGET where the row is over its ULP budget."""
    value = f"{row.max_ulp:.3g}" if row.max_ulp < 1e4 else f"{row.max_ulp:.2e}"
    value += f" + {row.nonfinite:.0f} nan/inf" if row.nonfinite else ""
    return value + (OVER_BUDGET if row.status == "deviating" else "")


OVER_BUDGET = "*"
ACCURACY_LEGEND = (
    "Largest error in ulps where the correct result is normal, next to a zero of the function judged in "
    f"ulp(1.0) instead; {OVER_BUDGET}: over its ULP budget (opbench/correctness/tolerance.py)."
)


def accuracy_table(frame: pd.DataFrame, tablefmt: str = "github") -> str:
    """LLVM's conformance table, per op: one row per implementation, one column per dtype and direction,
    the largest error in ulps where the correct result is normal, the nan or inf results if any, and
    the mark of a row over its budget (ACCURACY_LEGEND)."""
    ok = frame[frame["status"].isin(["ok", "deviating"])]
    if ok.empty:
        return ""
    cells = ok.assign(cell=ok.apply(ulps, axis=1), column=ok["dtype"] + " " + ok["direction"])
    table = cells.pivot_table(index="implementation", columns="column", values="cell", aggfunc="first", sort=False)
    return tabulate_frame(table.reset_index(), tablefmt)

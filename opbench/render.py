"""Long result frames as tables, for the terminal (tabulate) and the Markdown report alike: one pivot, one way to print a ratio."""

from __future__ import annotations

import math

import pandas as pd
from tabulate import tabulate

from opbench.inputs import size_label
from opbench.timing import baseline_for

# Marks a ratio whose 95% interval contains 1.
NO_CLEAR_DIFFERENCE = "≈"


def by_size(group: pd.DataFrame, cell, tablefmt: str = "github") -> str:
    """One row per implementation, one column per size, cells from cell(row)."""
    table = group.assign(cell=group.apply(cell, axis=1)).pivot_table(
        index="implementation", columns="numel", values="cell", aggfunc="first", sort=False)
    table.columns = [size_label(n) for n in table.columns]
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

"""`opbench compare BASE.csv NEW.csv`: for every key measured in both runs, the change of the median with its interval
and a significance test; the gate before merging a kernel change.

Bench CSVs compare the times of each op, implementation, device, dtype, direction and size: the
medians of its passes (stats.units of `samples_s`: two runs of the same code differ by as much as
two passes of one run, not by as little as two rounds); train CSVs compare the epoch times of each
op, implementation, device, loader, seed, learning rate and batch size. The statistics are those of
opbench/timing/stats.py; a change is significant when its p-value, adjusted over all the rows compared
(Holm), is below 0.05, and the table says when its unit counts are too few for any row to get there.
Rows measured on another machine (device, CPU, threads) or torch version are left out unless
`across_machines`.

`relative` (bench CSVs): compare each implementation's ratio to torch in the same rounds instead of
its absolute times. A machine that drifts between runs moves both sides of every ratio
alike only if it slows every kernel alike, and a shared VM does not: in two back-to-back runs of the
same code on the 2-core development VM, torch's forward at 2^20 took 31% longer in the second, cpp's
12%, and the copy yardstick 14%. Such a change is the machine's, and the table says so when the
references changed themselves: the copy and clone yardsticks and the op's torch entries, whose code is
the same in both runs (rows of other torch versions are not compared unless asked). The gate never
fails on them: it judges the implementations under review. (Measured: two back-to-back runs of the
same code, 40-odd passes a case, torch's forward+backward at 2^20 took 5.3% longer in the second,
adjusted p = 0.049; cpp's ratio to it changed by -1.1%.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from opbench import core
from opbench.core import Status
from opbench.reporting import render, results
from opbench.timing import bench, stats

COMPARABLE = {  # kind: (the columns that name a measurement, how to get its samples from the rows of one key)
    "bench": (
        [c for c in bench.KEY if c != "threads"],  # threads are a condition (CONDITIONS), not the measurement
        lambda rows: stats.units(results.samples_of(rows["samples_s"].iloc[0])),
    ),
    "train": (
        ["op", "implementation", "device", "loader", "seed", "lr", "batch_size"],
        lambda rows: list(rows["epoch_s"]),
    ),
}
CONDITIONS = [c for c in results.MACHINE if c != "git_sha"]  # comparing two commits is the point


class CompareError(results.ResultsError):
    """The CSVs cannot be compared; the message says why."""


def _conditions(rows: pd.DataFrame) -> tuple[str, ...]:
    """What a row was measured under; an empty cell (an empty settings column reads back as nan) and a
    column a CSV from before it does not have both mean the default, ''."""
    return tuple("" if c not in rows or pd.isna(rows[c].iloc[0]) else str(rows[c].iloc[0]) for c in CONDITIONS)


def _usable(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    if kind == "bench":
        return frame[(frame["status"] == Status.OK) & frame["samples_s"].notna()]
    return frame[frame["status"] == Status.OK] if "status" in frame else frame


def relative(frame: pd.DataFrame) -> pd.DataFrame:
    """Bench rows with samples_s replaced by the ratios to their case's baseline entry (core.baseline_for:
    torch, or torch's out= entry), round by round within each pass (stats.round_ratios); the baselines
    themselves, and rows whose baseline was not timed in the same rounds, are left out."""
    case = [c for c in bench.KEY if c != "implementation" and c in frame]
    samples = {
        (tuple(row[case]), row["implementation"]): results.samples_of(row["samples_s"]) for _, row in frame.iterrows()
    }
    kept = []
    for _, row in frame.iterrows():
        name, baseline = row["implementation"], core.baseline_for(row["implementation"])
        base, mine = samples.get((tuple(row[case]), baseline)), samples[(tuple(row[case]), name)]
        if base is None or name == baseline or list(map(len, base)) != list(map(len, mine)):
            continue
        kept.append(row.copy())
        kept[-1]["samples_s"] = results.samples_text(stats.round_ratios(mine, base))
    return pd.DataFrame(kept, columns=frame.columns)


@dataclass
class RunComparison:
    table: pd.DataFrame  # one row per key measured in both
    skipped_machines: int  # keys left out because the two runs come from different machines or versions
    relative: bool = False  # medians are ratios to torch in the same rounds, not seconds


def compare(
    base_path: Path, new_path: Path, across_machines: bool = False, relative_to_torch: bool = False
) -> RunComparison:
    base, new = results.load(base_path), results.load(new_path)
    kind = results.kind_of(base, base_path)
    if kind not in COMPARABLE:
        raise CompareError(f"{base_path}: a {kind} CSV; compare takes bench or train CSVs")
    if results.kind_of(new, new_path) != kind:
        raise CompareError(f"{base_path} is a {kind} CSV but {new_path} is not")
    key, samples_of = COMPARABLE[kind]
    base, new = _usable(base, kind), _usable(new, kind)
    if relative_to_torch:
        if kind != "bench":
            raise CompareError(f"{base_path}: --relative compares bench CSVs (ratios to torch in the same rounds)")
        base, new = relative(base), relative(new)
    rows, skipped = [], 0
    new_groups = dict(list(new.groupby(key, sort=False)))
    for values, base_rows in base.groupby(key, sort=False):
        if values not in new_groups:
            continue
        new_rows = new_groups[values]
        machines = [_conditions(rows) for rows in (base_rows, new_rows)]
        if machines[0] != machines[1] and not across_machines:
            skipped += 1
            continue
        before, after = samples_of(base_rows), samples_of(new_rows)
        if len(before) < 2 or len(after) < 2:
            continue
        change = stats.change(before, after)
        rows.append(
            {
                **dict(zip(key, values)),
                "base_median": stats.median_interval(before).median,
                "new_median": stats.median_interval(after).median,
                "change_pct": change.percent,
                "change_low_pct": 100 * (change.ratio.low - 1),
                "change_high_pct": 100 * (change.ratio.high - 1),
                "p_value": change.p_value,
                "smallest_p": stats.smallest_p(len(before), len(after)),
            }
        )
    table = pd.DataFrame(rows)
    if rows:  # significance over the whole table (stats.holm): identical code shows no change anywhere
        table["p_adjusted"] = stats.holm(list(table["p_value"]))
        table["verdict"] = [
            ("slower" if change > 0 else "faster") if p < stats.ALPHA else "no significant change"
            for change, p in zip(table["change_pct"], table["p_adjusted"])
        ]
    return RunComparison(table, skipped, relative_to_torch)


def blind_note(table: pd.DataFrame) -> str | None:
    """A warning when no row could be significant after the adjustment, whatever the change: too few
    units (passes) for this many rows."""
    if table.empty or (table["smallest_p"] * len(table) < stats.ALPHA).any():
        return None
    return (
        f"no row can be significant: {len(table)} rows, and {table['smallest_p'].min():.2g} is the smallest "
        "p-value these unit counts allow; time more passes (bench --passes) to compare this many rows"
    )


def _references(table: pd.DataFrame) -> pd.Series:
    """Rows of the copy and clone yardsticks and of the entries ratios are taken against (torch, torch's
    out=): the same code in both runs, they measure the machine, not code under review."""
    return table["implementation"].map(lambda name: name in core.YARDSTICKS or name == core.baseline_for(name))


def regressions(table: pd.DataFrame, fail_above_pct: float) -> pd.DataFrame:
    """Significant slowdowns of implementations larger than fail_above_pct percent. A reference that
    got slower says the machine changed, and is reported (machine_note) rather than failed."""
    if table.empty:
        return table
    return table[(table["verdict"] == "slower") & (table["change_pct"] > fail_above_pct) & ~_references(table)]


def machine_note(table: pd.DataFrame) -> str | None:
    """A warning when a reference (torch, copy, clone) changed significantly: then the machine's state
    differed between the runs (another tenant's load, its memory bandwidth, page-fault cost), and every
    change in the table, significant or not, is partly the machine's."""
    if table.empty:
        return None
    moved = table[_references(table) & (table["verdict"] != "no significant change")]
    if moved.empty:
        return None
    low, high = moved["change_pct"].min(), moved["change_pct"].max()
    span = f"{low:+.0f}%" if len(moved) == 1 else f"{low:+.0f}% to {high:+.0f}%"
    return (
        f"the machine changed between the runs: the references (torch, copy, clone: the same code in both) "
        f"changed significantly in {len(moved)} of {int(_references(table).sum())} rows ({span}); changes of the "
        "implementations are partly the machine's (--fail-above judges the implementations under review; "
        "--relative compares them with torch in the same rounds)"
    )


def text(comparison: RunComparison, base_path, new_path, across_machines: bool) -> str:
    measure = "median time vs torch in the same rounds" if comparison.relative else "median time"
    header = (
        f"{new_path} vs {base_path}: change of the {measure}, 95% interval, Mann-Whitney U p-value "
        "adjusted over the rows (Holm)"
    )
    if across_machines:
        header += " (across machines: rows from different devices, CPUs, threads or torch versions are compared)"
    table = comparison.table
    if table.empty:
        body = "no key was measured in both runs" + (
            f" on the same machine ({comparison.skipped_machines} measured on different ones: --across-machines)"
            if comparison.skipped_machines
            else ""
        )
        return f"{header}\n{body}"
    value = (lambda ratio: f"{ratio:.3f}x") if comparison.relative else render.duration
    shown = table.assign(
        base=table["base_median"].map(value),
        new=table["new_median"].map(value),
        change=[
            f"{c:+.1f}% [{lo:+.1f}, {hi:+.1f}]"
            for c, lo, hi in zip(table["change_pct"], table["change_low_pct"], table["change_high_pct"])
        ],
        p=table["p_adjusted"].map(lambda p: f"{p:.2g}"),
    ).drop(
        columns=[
            "base_median",
            "new_median",
            "change_pct",
            "change_low_pct",
            "change_high_pct",
            "p_value",
            "smallest_p",
            "p_adjusted",
        ]
    )
    lines = [header, render.tabulate_frame(shown)]
    for note in (machine_note(table), blind_note(table)):
        if note:
            lines.append(note)
    if comparison.skipped_machines:
        lines.append(
            f"{comparison.skipped_machines} keys measured on different machines or torch versions were "
            "left out (--across-machines compares them)"
        )
    return "\n".join(lines)

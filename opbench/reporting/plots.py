"""The report's plots, matplotlib to PNG: time, bandwidth and speedup by size, training curves and epoch times, and the
step's parts; each implementation in one color throughout."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import opbench  # noqa: E402
from opbench import core  # noqa: E402
from opbench.core import BASELINE, CLONE, COPY, YARDSTICKS, Status  # noqa: E402
from opbench.reporting import render, results  # noqa: E402
from opbench.reporting.sections import TARGET_ACCURACY, reference_size, trained  # noqa: E402
from opbench.spec.inputs import size_label  # noqa: E402


def colors(names) -> dict[str, str]:
    """One color per implementation, the same in every plot: registry order first, then any others."""
    order = list(dict.fromkeys(impl.name for impl in opbench.implementations()))
    others = sorted(set(names) - set(order) - set(YARDSTICKS))
    palette = plt.get_cmap("tab10").colors
    mapping = {name: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, name in enumerate(order + others)}
    mapping.update({COPY: "#000000", CLONE: "#888888"})
    return mapping


def save(figure, folder: Path, name: str) -> str:
    """Lay the figure out, write it to folder/name as PNG and close it; returns the name."""
    figure.tight_layout()
    figure.savefig(folder / name, dpi=110)
    plt.close(figure)
    return name


def plot_step(profile: pd.DataFrame, folder: Path, device: str, op: str) -> str:
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(profile)), 4.8))
    bottom = pd.Series(0.0, index=profile.index)
    colors_by_part = plt.get_cmap("tab20c").colors
    for k, part in enumerate(core.STEP_PARTS):
        values = 1e3 * profile[f"{part.replace(' ', '_')}_s"]
        axis.bar(
            profile["implementation"],
            values,
            bottom=bottom,
            label=part,
            color=colors_by_part[k],
            hatch="//" if part.startswith("activation") else "",
            edgecolor="white",
        )
        bottom += values
    axis.set_ylabel("mean ms per training step")
    axis.set_title(f"LeNet-5 training step on {device}: where the time goes (hatched: the activation)")
    axis.tick_params(axis="x", rotation=30)
    axis.legend(fontsize=8)
    return save(figure, folder, f"{op}_step_parts.png")


def plot_timing(bench: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    ok = bench[(bench["status"] == Status.OK) & render.sized(bench)]
    files = []
    for dtype, group in ok.groupby("dtype", sort=False):
        if group["numel"].nunique() < 2:  # a line against size needs two sizes (--quick times one: its tables)
            continue
        directions = [d for d in ("fwd", "fwd+bwd") if d in set(group["direction"])] or sorted(set(group["direction"]))
        for kind in ("time", "bandwidth"):
            figure, axes = plt.subplots(1, len(directions), figsize=(6.5 * len(directions), 4.8), squeeze=False)
            for axis, direction in zip(axes[0], directions):
                rows = group[group["direction"] == direction]
                for name, line in rows.groupby("implementation", sort=False):
                    line = line.sort_values("numel")
                    if name in YARDSTICKS:  # the limits: wide grey lines behind the ops
                        if kind == "bandwidth":
                            axis.plot(
                                line["numel"],
                                line["gbps"],
                                color=palette[name],
                                linewidth=5,
                                alpha=0.4,
                                zorder=0,
                                label=name,
                            )
                        continue
                    y = line["median_s"] * 1e6 if kind == "time" else line["gbps"]
                    axis.plot(line["numel"], y, marker="o", color=palette[name], label=name)
                    if kind == "time":
                        axis.fill_between(
                            line["numel"],
                            line["ci_low_s"] * 1e6,
                            line["ci_high_s"] * 1e6,
                            color=palette[name],
                            alpha=0.2,
                        )
                axis.set_xscale("log", base=2)
                axis.set_yscale("log")
                axis.set_xlabel("elements")
                axis.set_ylabel(
                    "median time (µs), band: 95% interval" if kind == "time" else "GB/s (bytes moved / median time)"
                )
                axis.set_title(f"{direction}, {dtype}")
                axis.grid(True, which="both", alpha=0.3)
                axis.legend(fontsize=8)
            figure.suptitle(f"{op} {'time' if kind == 'time' else 'bandwidth'} vs size on {device}")
            files.append(save(figure, folder, f"{op}_{kind}_vs_size_{dtype}.png"))
    return files


# The size the performance targets speak of: 2^20 on the CPU, 2^24 on CUDA.


def plot_speedup(bench: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    """The speedups at the reference size (none when only shapes were timed)."""
    ok = bench[(bench["status"] == Status.OK) & ~bench["implementation"].isin(YARDSTICKS) & render.sized(bench)]
    size = reference_size(bench)
    if size is None:
        return []
    at = ok[ok["numel"] == size]
    groups = [(d, r) for d, r in at.groupby(["dtype", "direction"], sort=False)]
    figure, axes = plt.subplots(1, len(groups), figsize=(4.2 * len(groups), 4.5), squeeze=False, sharey=True)
    for axis, ((dtype, direction), rows) in zip(axes[0], groups):
        errors = [rows["speedup_vs_torch"] - rows["speedup_low"], rows["speedup_high"] - rows["speedup_vs_torch"]]
        bars = axis.bar(
            rows["implementation"],
            rows["speedup_vs_torch"],
            yerr=errors,
            capsize=3,
            color=[palette[n] for n in rows["implementation"]],
        )
        axis.bar_label(bars, fmt="%.2fx", fontsize=8)
        axis.axhline(1.0, color="black", linewidth=0.8)
        axis.set_yscale("log")
        axis.set_title(f"{direction}, {dtype}")
        axis.set_ylabel(f"speedup vs {BASELINE} (time of {BASELINE} / time)")
        axis.tick_params(axis="x", rotation=45)
    figure.suptitle(
        f"{op}: speedup vs {BASELINE} at {size_label(size)} elements on {device}, 95% intervals (above 1 is faster)"
    )
    return [save(figure, folder, f"{op}_speedup.png")]


def plot_training(train: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    train = trained(train)
    curves = train[train["seed"] == train["seed"].min()]  # one seed's curves; the seed table gives the spread
    files = []
    if curves["epoch"].nunique() > 1:  # a curve needs two epochs (--quick trains one: its table)
        files.append(_training_curves(curves, palette, folder, device, op))
    times = train.groupby(["implementation", "loader"], sort=False)["epoch_s"].median().unstack("loader")
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(times)), 4.5))
    width = 0.8 / len(times.columns)
    for k, loader in enumerate(times.columns):
        positions = [i + (k - (len(times.columns) - 1) / 2) * width for i in range(len(times))]
        axis.bar(
            positions,
            times[loader],
            width,
            color=[palette[n] for n in times.index],
            hatch="" if loader == "device" else "//",
            edgecolor="black",
            label=loader,
        )
    axis.set_xticks(range(len(times)), times.index, rotation=30)
    axis.set_ylabel("median epoch time (s)")
    axis.set_title(f"Epoch time per implementation and input pipeline on {device}")
    axis.legend(
        handles=[
            matplotlib.patches.Patch(
                facecolor="white", edgecolor="black", hatch="" if loader == "device" else "//", label=loader
            )
            for loader in times.columns
        ],
        title="loader",
    )
    return [*files, save(figure, folder, f"{op}_epoch_time.png")]


def _training_curves(curves: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> str:
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(13, 4.8))
    for (name, loader), runs in curves.groupby(["implementation", "loader"], sort=False):
        runs = runs.sort_values("epoch")
        style = "-" if loader == "device" else ":"
        label = f"{name} ({loader})"
        loss_axis.plot(runs["epoch"], runs["train_loss"], style, marker="o", color=palette[name], label=label)
        accuracy_axis.plot(runs["epoch"], runs["test_accuracy"], style, marker="o", color=palette[name], label=label)
    accuracy_axis.axhline(TARGET_ACCURACY, color="black", linewidth=0.8, linestyle="--", label=f"{TARGET_ACCURACY}%")
    loss_axis.set(xlabel="epoch", ylabel="mean training loss (cross-entropy)", title="Training loss", yscale="log")
    accuracy_axis.set(xlabel="epoch", ylabel="test accuracy (%)", title="Test accuracy")
    for axis in (loss_axis, accuracy_axis):
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        axis.grid(True, alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(f"LeNet-5 with {op} on MNIST on {device}: lines overlap where implementations agree")
    return save(figure, folder, f"{op}_training_curves.png")


NONFINITE_AT = 1e12  # where a nan or inf result is drawn on the log axis


def plot_accuracy(accuracy: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    """Per dtype, the largest error in ulps against x, forward and each backward side by side, one line per
    implementation: each bin of x over 0.5 ulp as a step (the row's curve cell), the budget dashed."""
    rows = accuracy[accuracy["status"].isin([Status.OK, Status.DEVIATING])]
    files = []
    for dtype, of_dtype in rows.groupby("dtype", sort=False):
        measured = list(dict.fromkeys(of_dtype["direction"]))  # fwd, bwd, and a gated op's "bwd up"
        figure, axes = plt.subplots(1, len(measured), figsize=(6.5 * len(measured), 4.8), sharey=True, squeeze=False)
        axes = axes[0]
        curves = {row.Index: results.curve_of(row.curve) for row in of_dtype.itertuples()}
        # the x range of the finite errors (a nan or inf past it, e.g. an overflow near float's end, is in the note)
        reach = max([8.0] + [max(abs(low), abs(high)) for c in curves.values() for low, high, u in c if u < 1e300])
        for axis, direction in zip(axes, measured):
            for row in of_dtype[of_dtype["direction"] == direction].itertuples():
                cells = curves[row.Index]
                if cells:  # one collection of segments per line: one artist per cell took most of the report's writing
                    axis.hlines(
                        [min(ulps, NONFINITE_AT) for _, _, ulps in cells],
                        [low for low, _, _ in cells],
                        [high for _, high, _ in cells],
                        color=palette[row.implementation],
                        linewidth=2,
                        label=row.implementation,
                    )
                axis.axhline(row.budget_ulp, color="black", linewidth=0.8, linestyle="--")
            axis.set_xscale("symlog", linthresh=1.0)
            axis.set_xlim(-1.2 * reach, 1.2 * reach)
            axis.set_yscale("log")
            axis.set_ylim(0.4, NONFINITE_AT * 3)
            axis.set(xlabel="x", title=f"{direction}, {dtype}")
            axis.grid(True, alpha=0.3)
            axis.legend(fontsize=7)
        axes[0].set_ylabel(f"largest error in ulps per bin of x (nan/inf at {NONFINITE_AT:.0e})")
        figure.suptitle(
            f"{op} on {device}: where each implementation is more than 0.5 ulp off (dashed: the budget); "
            "next to a zero of f' judged in ulp(1.0), not drawn"
        )
        files.append(save(figure, folder, f"{op}_ulp_error_{dtype}.png"))
    return files


def plot_layouts(bench: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    """Per dtype and direction of the shapes-and-layouts rows: time per element by shape and layout, one
    bar per implementation, 95% intervals."""
    rows = bench[~render.sized(bench) & (bench["status"] == Status.OK)]
    rows = rows[~rows["implementation"].isin(YARDSTICKS)]
    files = []
    for (dtype, direction), group in rows.groupby(["dtype", "direction"], sort=False):
        cases = list(dict.fromkeys(zip(group["shape"], group["layout"])))
        names = list(dict.fromkeys(group["implementation"]))
        figure, axis = plt.subplots(figsize=(max(7, 0.9 * len(cases) * len(names)), 4.8))
        width = 0.8 / len(names)
        for k, name in enumerate(names):
            mine = group[group["implementation"] == name].set_index(["shape", "layout"])
            present = [(i, case) for i, case in enumerate(cases) if case in mine.index]
            per_element = [1e9 * mine.loc[case, "median_s"] / mine.loc[case, "numel"] for _, case in present]
            low = [1e9 * mine.loc[case, "ci_low_s"] / mine.loc[case, "numel"] for _, case in present]
            high = [1e9 * mine.loc[case, "ci_high_s"] / mine.loc[case, "numel"] for _, case in present]
            positions = [i + (k - (len(names) - 1) / 2) * width for i, _ in present]
            errors = [[m - lo for m, lo in zip(per_element, low)], [hi - m for m, hi in zip(per_element, high)]]
            axis.bar(positions, per_element, width, yerr=errors, capsize=2, color=palette[name], label=name)
        axis.set_xticks(range(len(cases)), [f"{shape}\n{layout}" for shape, layout in cases], fontsize=7)
        axis.set_ylabel("median time per element (ns), 95% interval")
        axis.set_title(f"{op} {direction}, {dtype} on {device}: time per element by shape and layout")
        axis.grid(True, axis="y", alpha=0.3)
        axis.legend(fontsize=8)
        files.append(save(figure, folder, f"{op}_layouts_{dtype}_{direction}.png"))
    return files

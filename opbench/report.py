"""`opbench report`: the check, bench, train and profile CSVs turned into one Markdown report with matplotlib plots, a
section per op.

The report reads only CSVs (as Liger-Kernel's plots do), so a report can be rebuilt from the CSVs of
another machine (`--from`). Every number in it comes from a CSV row, with that row's provenance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import matplotlib
import matplotlib.patches
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

import opbench  # noqa: E402
from opbench import render, results  # noqa: E402
from opbench.inputs import size_label  # noqa: E402
from opbench.registry import BASELINE  # noqa: E402
from opbench.results import Status  # noqa: E402
from opbench.timing import BASELINES, CLONE, COPY, OUT_SUFFIX  # noqa: E402

CSVS = ("check.csv", "bench.csv", "train.csv", "profile.csv")
TARGET_ACCURACY = 98.5
PLOTS = "plots"


def read(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / name
    return results.load(path) if path.exists() and path.stat().st_size else None


def machines(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The distinct (device, CPU, threads, torch, commit) the rows were measured under."""
    rows = pd.concat([f for f in frames if f is not None], ignore_index=True)
    return rows[[c for c in results.MACHINE if c in rows]].astype(str).drop_duplicates()


def colors(names) -> dict[str, str]:
    """One color per implementation, the same in every plot: registry order first, then any others."""
    order = list(dict.fromkeys(impl.name for impl in opbench.implementations()))
    others = sorted(set(names) - set(order) - set(BASELINES))
    palette = plt.get_cmap("tab10").colors
    mapping = {name: matplotlib.colors.to_hex(palette[i % len(palette)]) for i, name in enumerate(order + others)}
    mapping.update({COPY: "#000000", CLONE: "#888888"})
    return mapping


def markdown(frame: pd.DataFrame) -> str:
    return frame.to_markdown(index=False, floatfmt=".3g")


# ---- sections --------------------------------------------------------------------------------


def environment(frames: list[pd.DataFrame], command: str, quick: bool) -> str:
    rows = pd.concat([f for f in frames if f is not None], ignore_index=True)
    first = rows.iloc[0]
    distinct = machines(frames)
    if len(distinct) > 1:  # only with --allow-mixed
        return (
            "- **Mixed**: rows come from these machines, torch versions and commits (each row carries its own):\n\n"
            + distinct.to_markdown(index=False)
            + f"\n\n- Command: `{command}`"
        )
    lines = [
        f"- Device: {first['device_name']}"
        + (f" (host CPU: {first['cpu_model']})" if first["device_name"] != first["cpu_model"] else ""),
        f"- Threads: {first['threads']}",
        f"- torch {first['torch_version']}, CUDA {cuda if pd.notna(cuda := first['cuda_version']) else 'none'}, "
        f"Python {first['python_version']}",
        f"- opbench commit: {', '.join(sorted(rows['git_sha'].astype(str).unique()))}",
        f"- Measured: {rows['timestamp'].min()} to {rows['timestamp'].max()}",
        f"- Command: `{command}`",
    ]
    if quick:
        lines.insert(
            0, "- **Quick report**: a reduced sweep and short training runs (`--quick`); not the full measurement."
        )
    return "\n".join(lines)


def correctness(check: pd.DataFrame) -> str:
    parts = [render.check_table(check)]
    notes = render.check_notes(check)
    if notes:
        parts.append(
            "Failures, deviations, and implementations unavailable here:\n\n" + "\n".join(f"- {n}" for n in notes)
        )
    return "\n\n".join(p for p in parts if p)


def timing_tables(bench: pd.DataFrame) -> str:
    timed = bench[bench["status"].isin([Status.OK, Status.FAILED_VERIFICATION])]
    ratios = {(dtype, direction): table for (_, dtype, direction), table in render.ratio_tables(bench)}
    parts = []
    for (dtype, direction), group in timed.groupby(["dtype", "direction"], sort=False):
        ops = group[~group["implementation"].isin(BASELINES)]
        verified = ops[ops["status"] == Status.OK]
        parts.append(
            f"**{dtype} {direction}**: median time per call [95% interval]\n\n"
            + render.by_size(
                group,
                lambda r: (
                    f"{render.duration(r.median_s)} [{render.duration(r.ci_low_s)}, {render.duration(r.ci_high_s)}]"
                ),
            )
        )
        if (dtype, direction) in ratios:
            parts.append(
                f"**{dtype} {direction}**: time vs {BASELINE}, median of the passes' ratios [95% interval]; "
                f"below 1 is faster, {render.NO_CLEAR_DIFFERENCE} no clear difference\n\n" + ratios[dtype, direction]
            )
        parts.append(
            f"**{dtype} {direction}**: GB/s (% of the bandwidth limit `out.copy_(x)` / % of `x.clone()`; "
            "**above limit** marks a measurement problem, not a win)\n\n" + render.by_size(ops, bandwidth_cell)
        )
        split = allocation_split(verified)
        if split:
            parts.append(
                f"**{dtype} {direction}**: kernel time apart from allocation: the median of the `{OUT_SUFFIX.strip()}` "
                "entry (writing into an output allocated once) and of the call as made, timed in the same rounds, "
                "and their ratio. Well below 1x, the rest of the call is allocating its output and the output's "
                "first-touch page faults; near 1x, allocation costs nothing measurable\n\n" + split
            )
        if "kernel_s" in ops and ops["kernel_s"].notna().any():
            parts.append(
                f"**{dtype} {direction}**: GPU time in kernels per call (share of the median wall time; "
                "well below 100%, the call waits on CPU-side dispatch, launches or autograd, not on its kernels)\n\n"
                + render.by_size(ops, lambda r: f"{render.duration(r.kernel_s)} ({100 * r.kernel_s / r.median_s:.0f}%)")
            )
    if "cold_call_s" in bench and bench["cold_call_s"].notna().any():
        cold = bench.dropna(subset=["cold_call_s"]).pivot_table(
            index="implementation", columns="dtype", values="cold_call_s", aggfunc="first", sort=False
        )
        parts.append(
            "**First call** in the process (seconds, forward and backward of 1024 elements): where builds, "
            "Triton JIT and torch.compile's compilation land, kept out of the medians above.\n\n"
            + cold.reset_index().to_markdown(index=False, floatfmt=".3g")
        )
    notes = render.bench_notes(bench)
    if notes:
        parts.append("Flags, and rows not timed or timed and wrong:\n\n" + "\n".join(f"- {n}" for n in notes))
    return "\n\n".join(parts)


def allocation_split(rows: pd.DataFrame) -> str | None:
    """Per implementation with an out= entry: its median, the fresh call's, and their ratio, by size."""
    into = rows[rows["implementation"].str.endswith(OUT_SUFFIX)]
    if into.empty:
        return None
    fresh = rows.set_index(["implementation", "numel"])["median_s"]
    paired = into.assign(implementation=into["implementation"].str.removesuffix(OUT_SUFFIX))
    paired = paired[[key in fresh.index for key in zip(paired["implementation"], paired["numel"])]]
    return render.by_size(
        paired,
        lambda r: (
            f"{render.duration(r.median_s)} of {render.duration(fresh[r.implementation, r.numel])} "
            f"({r.median_s / fresh[r.implementation, r.numel]:.2f}x)"
        ),
    )


def bandwidth_cell(row) -> str:
    if row.status != Status.OK:
        return str(row.status)
    flag = " **above limit**" if row.above_limit else ""
    return f"{row.gbps:.3g} ({100 * row.bandwidth_fraction:.0f}% / {100 * row.clone_fraction:.0f}%){flag}"


def plot_step(profile: pd.DataFrame, folder: Path, device: str, op: str) -> str:
    figure, axis = plt.subplots(figsize=(max(6, 1.3 * len(profile)), 4.8))
    bottom = pd.Series(0.0, index=profile.index)
    colors_by_part = plt.get_cmap("tab20c").colors
    for k, part in enumerate(render.STEP_PARTS):
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
    figure.tight_layout()
    figure.savefig(folder / f"{op}_step_parts.png", dpi=110)
    plt.close(figure)
    return f"{op}_step_parts.png"


def seed_spread(train: pd.DataFrame) -> str:
    """Final test accuracy over seeds per implementation and loader: mean, standard deviation, and
    whether the mean lies within torch's range over the same seeds (what a change of seed does)."""
    final = trained(train).sort_values("epoch").groupby(["implementation", "loader", "seed"], sort=False).last()
    rows = []
    for (name, loader), runs in final.groupby(level=["implementation", "loader"], sort=False):
        accuracy = runs["test_accuracy"]
        torch_runs = (
            final.xs((BASELINE, loader), level=["implementation", "loader"])["test_accuracy"]
            if (BASELINE, loader) in final.droplevel("seed").index
            else None
        )
        within = (
            "-"
            if torch_runs is None or len(torch_runs) < 2
            else ("yes" if torch_runs.min() <= accuracy.mean() <= torch_runs.max() else "no")
        )
        rows.append(
            {
                "implementation": name,
                "loader": loader,
                "seeds": len(accuracy),
                "mean final accuracy %": f"{accuracy.mean():.2f}",
                "std %": f"{accuracy.std():.2f}" if len(accuracy) > 1 else "-",
                f"within {BASELINE}'s range over seeds": within,
            }
        )
    return pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)


def trained(train: pd.DataFrame) -> pd.DataFrame:
    """The epochs that trained (a CSV from before the status column: all of them; before seeds: seed 0)."""
    if "seed" not in train:
        train = train.assign(seed=0)
    return train[train["status"] == Status.OK] if "status" in train else train


def step_kind(runs: pd.DataFrame) -> str:
    """'CUDA graph', 'eager', or why a run asked to be graphed was not (CSVs from before --graph: eager)."""
    if "graphed" in runs and runs["graphed"].astype(bool).all():
        return "CUDA graph"
    reasons = runs["detail"].dropna().astype(str) if "detail" in runs else pd.Series(dtype=str)
    reasons = reasons[reasons != ""]
    return reasons.iloc[-1] if len(reasons) else "eager"


def training_table(train: pd.DataFrame) -> str:
    failed = train[train["status"] != Status.OK] if "status" in train else train.iloc[:0]
    train = trained(train)
    rows = []
    for (name, loader, seed), runs in train.groupby(["implementation", "loader", "seed"], sort=False):
        runs = runs.sort_values("epoch")
        reached = runs[runs["test_accuracy"] >= TARGET_ACCURACY]
        time_to_target = runs["epoch_s"].cumsum()[reached.index[0]] if len(reached) else None
        rows.append(
            {
                "implementation": name,
                "loader": loader,
                "seed": seed,
                "epochs": len(runs),
                "final accuracy %": f"{runs['test_accuracy'].iloc[-1]:.2f}",
                "best accuracy %": f"{runs['test_accuracy'].max():.2f}",
                "final loss": f"{runs['train_loss'].iloc[-1]:.4f}",
                "median epoch s": f"{runs['epoch_s'].median():.2f}",
                "samples/s": f"{runs['samples_per_s'].median():.0f}",
                f"time to {TARGET_ACCURACY}%": f"{time_to_target:.1f} s"
                if time_to_target is not None
                else "not reached",
                "step": step_kind(runs),
            }
        )
    table = pd.DataFrame(rows).to_markdown(index=False, disable_numparse=True)  # cells are formatted above
    if len(failed):
        table += "\n\nDid not train:\n\n" + "\n".join(
            f"- {r.implementation} ({r.loader}): **{r.status}**: {r.detail}" for r in failed.itertuples()
        )
    return table


# ---- plots -----------------------------------------------------------------------------------


def plot_timing(bench: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    ok = bench[bench["status"] == Status.OK]
    files = []
    for dtype, group in ok.groupby("dtype", sort=False):
        directions = [d for d in ("fwd", "fwd+bwd") if d in set(group["direction"])] or sorted(set(group["direction"]))
        for kind in ("time", "bandwidth"):
            figure, axes = plt.subplots(1, len(directions), figsize=(6.5 * len(directions), 4.8), squeeze=False)
            for axis, direction in zip(axes[0], directions):
                rows = group[group["direction"] == direction]
                for name, line in rows.groupby("implementation", sort=False):
                    line = line.sort_values("numel")
                    if name in BASELINES:  # the limits: wide grey lines behind the ops
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
            figure.tight_layout()
            name = f"{op}_{kind}_vs_size_{dtype}.png"
            figure.savefig(folder / name, dpi=110)
            plt.close(figure)
            files.append(name)
    return files


# The size the performance targets speak of: 2^20 on the CPU, 2^24 on CUDA.
REFERENCE_SIZES = {"cpu": 2**20, "cuda": 2**24}


def reference_size(bench: pd.DataFrame) -> int:
    """The device's reference size where measured, else the largest size measured."""
    sizes = sorted(set(bench.loc[bench["status"] == Status.OK, "numel"]))
    wanted = REFERENCE_SIZES.get(bench["device"].iloc[0])
    return wanted if wanted in sizes else sizes[-1]


def plot_speedup(bench: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> str:
    ok = bench[(bench["status"] == Status.OK) & ~bench["implementation"].isin(BASELINES)]
    size = reference_size(bench)
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
    figure.tight_layout()
    figure.savefig(folder / f"{op}_speedup.png", dpi=110)
    plt.close(figure)
    return f"{op}_speedup.png"


def plot_training(train: pd.DataFrame, palette: dict, folder: Path, device: str, op: str) -> list[str]:
    train = trained(train)
    curves = train[train["seed"] == train["seed"].min()]  # one seed's curves; the seed table gives the spread
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
    figure.tight_layout()
    figure.savefig(folder / f"{op}_training_curves.png", dpi=110)
    plt.close(figure)

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
    figure.tight_layout()
    figure.savefig(folder / f"{op}_epoch_time.png", dpi=110)
    plt.close(figure)
    return [f"{op}_training_curves.png", f"{op}_epoch_time.png"]


# ---- the report ------------------------------------------------------------------------------


def write(source: Path, out: Path, command: str, quick: bool = False, allow_mixed: bool = False) -> Path:
    """Write out/README.md and out/plots/*.png from the CSVs in source (copied beside the report).

    Refuses (results.ResultsError) malformed CSVs, and rows from more than one machine, torch version
    or commit unless allow_mixed, when the environment section lists each."""
    out.mkdir(parents=True, exist_ok=True)
    loaded = [read(source, name) for name in CSVS]
    if not any(frame is not None for frame in loaded):
        raise results.ResultsError(f"no {', '.join(CSVS)} in {source}")
    distinct = machines(loaded)
    if len(distinct) > 1 and not allow_mixed:
        raise results.ResultsError(
            f"{source}: rows from {len(distinct)} different machines, torch versions or commits "
            "(--allow-mixed to report them together)"
        )
    if source.resolve() != out.resolve():
        for name, frame in zip(CSVS, loaded):  # what --from names, and nothing left in out from before
            (out / name).unlink(missing_ok=True)
            if frame is not None:
                shutil.copy(source / name, out / name)
    shutil.rmtree(out / PLOTS, ignore_errors=True)  # nothing stale stays
    (out / PLOTS).mkdir()
    frames = [f for f in loaded if f is not None]
    device = frames[0]["device_name"].iloc[0]
    names = set().union(*(set(f["implementation"]) for f in frames))
    palette = colors(names)
    sections = [f"# opbench report: {device}", "## Environment", environment(frames, command, quick)]
    defined = [op.name for op in opbench.ops()]
    present = set().union(*(set(f["op"]) for f in frames))
    for op in [*(o for o in defined if o in present), *sorted(present - set(defined))]:
        parts = [None if f is None or not (f["op"] == op).any() else f[f["op"] == op] for f in loaded]
        sections += op_sections(op, *parts, palette, out / PLOTS, device)
    readme = out / "README.md"
    readme.write_text("\n\n".join(sections) + "\n")
    return readme


def op_sections(op: str, check, bench, train, profile, palette: dict, folder: Path, device: str) -> list[str]:
    """The report of one op: its correctness, timing, training and step profile, from its rows alone."""
    defined = {o.name: o for o in opbench.ops()}
    sections = [f"## {op}" + (f": {defined[op].description}" if op in defined else "")]
    if check is not None:
        sections += [
            "### Correctness",
            "Against the op's float64 reference; tolerances per dtype in `opbench/check.py`. "
            "Edges and limits deviations fail a run only with `--strict`.",
            correctness(check),
        ]
    if bench is not None:
        plots = plot_timing(bench, palette, folder, device, op) + [plot_speedup(bench, palette, folder, device, op)]
        sections += [
            "### Timing",
            "Every implementation and both copy baselines of a case are timed in the same "
            "interleaved rounds, on inputs they have not seen, pass after pass on fresh buffers, and the outputs of "
            "their timed calls are verified afterwards (`opbench/timing.py`). Bytes moved: forward 2 tensors (read x, "
            "write y), backward 3, both 5. Intervals: 95%, from the medians of the passes (rows of one pass: "
            "from its rounds; `opbench/stats.py`).",
            timing_tables(bench),
        ]
        sections += [f"![{p}]({PLOTS}/{p})" for p in plots]
    if train is not None:
        plots = plot_training(train, palette, folder, device, op)
        sections += [
            "### Training",
            f"LeNet-5 on MNIST with {op} as every activation, NAdam lr {train['lr'].iloc[0]}, "
            f"batch {train['batch_size'].iloc[0]}.",
            training_table(train),
        ]
        if trained(train)["seed"].nunique() > 1:
            sections += ["Final test accuracy over seeds:", seed_spread(train)]
        sections += [f"![{p}]({PLOTS}/{p})" for p in plots]
    if profile is not None:
        sections += [
            "### The activation's share of a training step",
            "torch.profiler over a window of LeNet-5 training "
            "steps after warm-up (device loader, batch 64); mean host time per step in each part, the activation "
            "attributed by its modules' forwards and the backward nodes they create (`opbench/stepprofile.py`). "
            f"Step time vs {BASELINE}: median of the per-round ratios of unprofiled steps, 95% interval.",
            render.step_table(profile, BASELINE),
            f"![{op}_step_parts.png]({PLOTS}/{plot_step(profile, folder, device, op)})",
        ]
    return sections

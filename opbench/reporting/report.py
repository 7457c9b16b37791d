"""`opbench report`: the check, accuracy, bench, train and profile CSVs turned into one Markdown report with matplotlib
plots, a section per op.

The report reads only CSVs (as Liger-Kernel's plots do), so a report can be rebuilt from the CSVs of
another machine (`--from`). Every number in it comes from a CSV row, with that row's provenance.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

import opbench
from opbench.core import BASELINE
from opbench.reporting import plots, render, results, sections

KINDS = ("check", "accuracy", "bench", "train", "profile")
CSVS = tuple(f"{kind}.csv" for kind in KINDS)
PLOTS = "plots"


def read(folder: Path, name: str) -> pd.DataFrame | None:
    path = folder / name
    return results.load(path) if path.exists() and path.stat().st_size else None


def summary(folder: Path, tablefmt: str = "simple") -> str:
    """The report's Summary table from the CSVs in folder, for the terminal."""
    return sections.summary({kind: read(folder, name) for kind, name in zip(KINDS, CSVS)}, tablefmt)


# ---- the report ------------------------------------------------------------------------------


def write(source: Path, out: Path, command: str, quick: bool = False, allow_mixed: bool = False) -> Path:
    """Write out/README.md and out/plots/*.png from the CSVs in source (copied beside the report).

    Refuses (results.ResultsError) malformed CSVs, and rows from more than one machine, torch version
    or commit unless allow_mixed, when the environment section lists each."""
    out.mkdir(parents=True, exist_ok=True)
    loaded = [read(source, name) for name in CSVS]
    if not any(frame is not None for frame in loaded):
        raise results.ResultsError(f"no {', '.join(CSVS)} in {source}")
    distinct = sections.machines(loaded)
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
    palette = plots.colors(names)
    verdict = sections.summary(
        {kind: sections.warm(f) if kind == "bench" and f is not None else f for kind, f in zip(KINDS, loaded)}
    )
    blocks = [
        f"# opbench report: {device}",
        "## Summary",
        "Per implementation: its checks against the float64 reference (`opbench check`), its largest float32 "
        "errors in ulps (`opbench accuracy`; * over the ULP budget), its time vs the op's PyTorch function at the "
        "reference size (2^20 on the CPU, 2^24 on CUDA, else the largest timed; median of the paired ratios, 95% "
        "interval; below 1 is faster) with its peak memory, "
        "and LeNet-5's final test accuracy with it. The sections below hold every number behind these.",
        verdict,
        "## Environment",
        sections.environment(frames, command, quick),
    ]
    defined = [op.name for op in opbench.ops()]
    present = set().union(*(set(f["op"]) for f in frames))
    for op in [*(o for o in defined if o in present), *sorted(present - set(defined))]:
        parts = [None if f is None or not (f["op"] == op).any() else f[f["op"] == op] for f in loaded]
        blocks += op_sections(op, *parts, palette, out / PLOTS, device)
    readme = out / "README.md"
    readme.write_text("\n\n".join(blocks) + "\n")
    return readme


def op_sections(op: str, check, accuracy, bench, train, profile, palette: dict, folder: Path, device: str) -> list[str]:
    """The report of one op: its correctness, accuracy in ULPs, timing, training and step profile, from its
    rows alone."""
    defined = {o.name: o for o in opbench.ops()}
    blocks = [f"## {op}" + (f": {defined[op].description}" if op in defined else "")]
    if check is not None:
        blocks += [
            "### Correctness",
            "Against the op's float64 reference; tolerances per dtype in `opbench/correctness/tolerance.py`. "
            "Edges and limits deviations fail a run only with `--strict`.",
            sections.correctness(check),
        ]
    if accuracy is not None:
        files = plots.plot_accuracy(accuracy, palette, folder, device, op)
        inputs = "; ".join(f"{d} {i}" for d, i in accuracy.drop_duplicates("dtype")[["dtype", "inputs"]].values)
        blocks += [
            "### Accuracy in ULPs",
            f"Forward and backward (upstream gradient 1) against the op's float64 reference. Inputs: {inputs} "
            "(float64 has no higher-precision reference here). " + render.ACCURACY_LEGEND,
            render.accuracy_table(accuracy),
            sections.accuracy_notes(accuracy),
        ]
        blocks += [f"![{p}]({PLOTS}/{p})" for p in files]
    cold = None if bench is None else sections.cache_tables(bench)
    bench = None if bench is None else sections.warm(bench)
    if bench is not None and not bench.empty:
        files = plots.plot_timing(bench, palette, folder, device, op) + plots.plot_speedup(
            bench, palette, folder, device, op
        )
        timing = sections.timing_tables(bench)
        if timing:  # none where an op was timed at model shapes only
            blocks += [
                "### Timing",
                "Every implementation and both copy yardsticks of a case are timed in the same interleaved rounds, "
                "on inputs they have not seen, pass after pass on fresh buffers, and the outputs of their timed "
                "calls are verified afterwards. Intervals: 95%, from the medians of the passes (rows of one pass: "
                "from its rounds). The method, the bytes each direction moves and the limits: docs/methodology.md.",
                timing,
            ]
        blocks += [f"![{p}]({PLOTS}/{p})" for p in files]
        shapes = sections.shapes_tables(bench)
        if shapes:
            blocks += [
                "### Shapes and layouts",
                "The same verified timing on tensors of real models' shapes (`opbench bench --shape`) in each memory "
                "layout (`--layout`: transposed = x.mT, chunked = the first half of h.chunk(2, -1), channels-last); "
                "the copy yardsticks copy the same layout. An implementation that makes its input contiguous first "
                "is timed with that copy.",
                shapes,
            ]
            blocks += [f"![{p}]({PLOTS}/{p})" for p in plots.plot_layouts(bench, palette, folder, device, op)]
    if cold:
        blocks += [
            "### Warm and cold",
            "Warm, consecutive calls read windows of one buffer 64 elements apart: a tensor that fits in the "
            "last-level cache is timed from it, and so is the copy yardstick. Cold (`opbench bench --cache cold`), "
            "each timed call is a block alone, made after a pass that reads and writes twice the last-level cache "
            "(read from sysfs; on CUDA the L2), outside the timed region: its input and output come from memory, "
            "and the yardsticks are timed the same way, so each regime's fraction of the copy is against its own "
            "limit.",
            cold,
        ]
    if train is not None:
        files = plots.plot_training(train, palette, folder, device, op)
        blocks += [
            "### Training",
            f"LeNet-5 on MNIST with {op} as every activation, NAdam lr {train['lr'].iloc[0]}, "
            f"batch {train['batch_size'].iloc[0]}.",
            sections.training_table(train),
        ]
        if sections.trained(train)["seed"].nunique() > 1:
            blocks += ["Final test accuracy over seeds:", sections.seed_spread(train)]
        blocks += [f"![{p}]({PLOTS}/{p})" for p in files]
    if profile is not None:
        blocks += [
            "### The activation's share of a training step",
            "torch.profiler over a window of LeNet-5 training "
            "steps after warm-up (device loader, batch 64); mean host time per step in each part, the activation "
            "attributed by its modules' forwards and the backward nodes they create "
            "(`opbench/training/stepprofile.py`). "
            f"Step time vs {BASELINE}: median of the per-round ratios of unprofiled steps, 95% interval.",
            render.step_table(profile, BASELINE),
            f"![{op}_step_parts.png]({PLOTS}/{plots.plot_step(profile, folder, device, op)})",
        ]
    return blocks

"""The `opbench` subcommands: each resolves its options into config objects, calls the library (opbench.pipeline) and
prints; no logic of its own."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tabulate import tabulate

import opbench
from opbench import pipeline
from opbench.cli import isolation
from opbench.cli.isolation import run_isolated
from opbench.cli.options import UsageError, selected, selected_ops
from opbench.core import BASELINE, DIRECTIONS, OUT_SUFFIX, Status
from opbench.correctness import check
from opbench.impls import build
from opbench.reporting import provenance, render, report, results
from opbench.spec import inputs
from opbench.spec.devices import DTYPES_BY_NAME, device_present, dtype_name
from opbench.spec.registry import setup_error
from opbench.timing import bench, coldcache, compare, stats, workloads
from opbench.training import data, train
from opbench.training.stepprofile import ProfileConfig


def cmd_list(args) -> int:
    """The ops (--op: those named, else all), then one row per implementation name and one column per op:
    available, why not, or '-'."""
    names = selected_ops(args) if args.op else [op.name for op in opbench.ops()]
    ops = [op for op in opbench.ops() if op.name in names]
    print(
        tabulate(
            [[op.name, op.description, f"torch: {op.baseline_label}"] for op in ops],
            headers=["op", "description", "baseline"],
        )
    )
    print()
    rows = []
    for name in dict.fromkeys(impl.name for impl in opbench.implementations() if impl.op.name in names):
        impls = {
            impl.op.name: impl for impl in opbench.implementations() if impl.name == name and impl.op.name in names
        }
        first = next(iter(impls.values()))
        cells = []
        for op in ops:
            reason = impls[op.name].unavailable_reason() if op.name in impls else None
            cells.append("-" if op.name not in impls else f"no: {reason}" if reason else "yes")
        rows.append(
            [name, *cells, ",".join(first.devices), ",".join(dtype_name(d) for d in first.dtypes), first.description]
        )
    print(tabulate(rows, headers=["implementation", *(op.name for op in ops), "devices", "dtypes", "description"]))
    isa = provenance.provenance("cpu")
    print(f"\nvector ISA: ATen {isa['isa']}" + (f", cpp {isa['cpp_isa']}" if isa["cpp_isa"] else ""))
    return 0


def cmd_data(args) -> int:
    """Fetch MNIST where training and the tests read it, if missing, and verify it: the tests never download."""
    print(data.ensure_mnist(args.data_root))
    return 0


def cmd_build(args) -> int:
    if args.clean:
        print(f"emptied {build.clean()}")
    devices = {"cpu"} | ({"cuda"} if args.cuda or device_present("cuda") else set())
    rows, failures = [], 0
    for impl in opbench.implementations():
        if impl.setup is None or not devices & set(impl.devices):
            continue
        start = time.perf_counter()
        reason = setup_error(impl)
        failures += reason is not None
        rows.append([impl.name, "ok" if reason is None else f"failed: {reason}", f"{time.perf_counter() - start:.1f}"])
    print(tabulate(rows, headers=["implementation", "build", "seconds"]))
    return 1 if failures else 0


def print_failures(lines: list[str]) -> int:
    for line in lines:
        print(f"FAIL {line}")
    return 1 if lines else 0


def cmd_check(args) -> int:
    results.check_target(args.csv, "check")
    if args.isolate:
        return run_isolated(
            args,
            lambda impl, detail: results.to_frame(
                [check.CheckResult(impl.op.name, impl.name, args.device, "-", "process", Status.FAIL, detail=detail)],
                args.device,
            ),
            check.KEY,
        )
    dtypes = [DTYPES_BY_NAME[name] for name in args.dtype] if args.dtype else None
    numels = []
    if args.sizes:  # forward and backward at the sizes a sweep times, where prefix-only work would show
        numels = [max(bench.DEFAULT_SIZES[args.device])] if args.sizes == "largest" else args.sizes
        refuse_oversized(numels, dtypes or bench.default_dtypes("cpu"), args.device)
    run = pipeline.check(selected(args, args.device), args.device, dtypes, numels, args.strict, args.csv)
    frame = run.frame
    for op, rows in frame.groupby("op", sort=False):
        print(f"{op}:\n{render.check_table(rows, 'simple')}\n")
    notes = frame[frame["status"].isin([Status.DEVIATING, Status.UNAVAILABLE])]
    for row in notes.itertuples():
        if not (args.strict and row.status == Status.DEVIATING):
            print(f"note: {row.implementation} ({row.op}) {row.dtype} {row.check} {row.status}: {row.detail}")
    print_failures(run.failures)
    print(f"{len(frame) - len(run.failures)} passed, {len(run.failures)} failed")
    return 1 if run.failures else 0


def cmd_accuracy(args) -> int:
    """Errors in ULPs per op, implementation, dtype and direction; exit 1 when an implementation raised
    (or, with --strict, went over its ULP budget)."""
    results.check_target(args.csv, "accuracy")
    dtypes = [DTYPES_BY_NAME[name] for name in args.dtype] if args.dtype else None
    if dtypes and torch.float64 in dtypes:
        raise UsageError("--dtype float64: no higher-precision reference for ULP errors (bfloat16, float16, float32)")
    run = pipeline.accuracy(selected(args, args.device), args.device, dtypes, args.inputs, args.csv, args.strict)
    for op, rows in run.frame.groupby("op", sort=False) if len(run.frame) else ():
        print(f"{op}: {render.ACCURACY_LEGEND}")
        print(f"{render.accuracy_table(rows, 'simple')}\n")
    if not args.strict:
        for row in run.frame[run.frame["status"] == Status.DEVIATING].itertuples() if len(run.frame) else ():
            print(f"note: {row.implementation} ({row.op}) {row.dtype} {row.direction} {row.status}: {row.detail}")
    return print_failures(run.failures)


def refuse_oversized(numels: list[int], dtypes, device: str) -> None:
    problem = workloads.too_large(numels, dtypes, device)
    if problem:
        raise UsageError(f"--sizes {problem}")


def sweep_config(args) -> bench.SweepConfig:
    """bench's options as a SweepConfig, each bad value or combination refused in one line."""
    directions = tuple(args.direction.split(","))
    unknown = set(directions) - set(DIRECTIONS)
    if unknown:
        raise UsageError(
            f"--direction {args.direction}: unknown {', '.join(sorted(unknown))}; use any of {','.join(DIRECTIONS)}"
        )
    if args.outputs == "preallocated" and "fwd+bwd" in directions:
        raise UsageError("--outputs preallocated: out= variants time fwd and bwd, not fwd+bwd (autograd allocates)")
    if args.passes < stats.MIN_UNITS:
        raise UsageError(
            f"--passes {args.passes}: at least {stats.MIN_UNITS}; the medians of fewer passes give no 95% "
            "interval of the median"
        )
    if args.max_passes is not None and args.target_width is None:
        raise UsageError("--max-passes: only with --target-width (without it every case times --passes passes)")
    max_passes = args.max_passes or 3 * args.passes
    if max_passes < args.passes:
        raise UsageError(f"--max-passes {max_passes}: below --passes {args.passes}")
    fields = dict(
        device=args.device,
        directions=directions,
        outputs=args.outputs,
        passes=args.passes,
        max_passes=max_passes,
        target_width=args.target_width / 100 if args.target_width is not None else None,
    )
    fields.update({name: value for name, value in (("rounds", args.rounds), ("sizes", args.sizes)) if value})
    if args.shape:
        try:
            fields["shapes"] = tuple(shape for text in args.shape for shape in inputs.parse_shape(text, args.tokens))
        except ValueError as error:
            raise UsageError(f"--shape {error}") from None
    layouts = args.layout or ["contiguous"]
    fields["layouts"] = inputs.LAYOUTS if "all" in layouts else tuple(dict.fromkeys(layouts))
    fields["caches"] = coldcache.CACHES if args.cache == "both" else (args.cache,)
    if args.dtype:
        fields["dtypes"] = tuple(DTYPES_BY_NAME[name] for name in args.dtype)
    config = (bench.SweepConfig.quick if args.quick else bench.SweepConfig)(**fields)
    if not config.geometries():  # every layout asked fails every shape: say why for the first of each
        shape = (config.sizes[0],) if config.sizes else config.shapes[0]
        problem = inputs.layout_problem(shape, config.layouts[0])
        raise UsageError(f"--layout {config.layouts[0]}: {problem}, and no --shape has them")
    return config


def cmd_bench(args) -> int:
    results.check_target(args.csv, "bench")
    config = sweep_config(args)
    if args.isolate:
        return run_isolated(args, lambda impl, detail: bench.failed_rows(impl, config, detail), bench.KEY, show_bench)
    refuse_oversized(
        [inputs.layout_elements(s, layout) for s, layout in config.geometries()], config.dtypes, config.device
    )
    if isolation.witnessed(args):
        returncode, frame = isolation.run_witnessed(args)
        if not len(frame):  # the child said why (an option, a plugin that would not load)
            return returncode or 1
        shown = show_bench(frame)
        return shown or (1 if returncode else 0)
    run = pipeline.sweep(selected(args, config.device), config, args.csv)
    return show_bench(run.frame)


def show_bench(frame: pd.DataFrame) -> int:
    """A sweep's ratio tables, notes and FAIL lines; 1 when any row failed."""
    if len(frame):
        for op, rows in frame.groupby("op", sort=False):
            for (device_name, dtype, direction), table in render.ratio_tables(rows, "simple"):
                print(
                    f"{op} {device_name} {dtype} {direction}: time vs {BASELINE} "
                    f"(out= rows: vs {BASELINE}{OUT_SUFFIX}), "
                    f"median [95% interval]; {render.NO_CLEAR_DIFFERENCE} no clear difference\n{table}\n"
                )
            for note in render.bench_notes(rows):
                print(f"{op}: {note}")
    return print_failures(pipeline.sweep_failures(frame))


def train_configs(args) -> list[train.TrainConfig]:
    if args.graph and args.device != "cuda":
        raise UsageError("--graph needs --device cuda: a CUDA graph replays GPU work")
    # Graphed by default where it pays: on the GPU with the data already there.
    return [
        train.TrainConfig(
            epochs=args.epochs,
            max_batches=args.max_batches,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=seed,
            loader=loader,
            device=args.device,
            data_root=args.data_root,
            logdir=args.logdir,
            graph=args.graph if args.graph is not None else (args.device == "cuda" and loader == "device"),
        )
        for seed in args.seeds
        for loader in args.loader or ["dataloader"]
    ]


def cmd_train(args) -> int:
    """Train each selected implementation; exit 1 when any was skipped, failed, or ended below --min-accuracy."""
    results.check_target(args.csv, "train")
    runs = train_configs(args)
    if args.isolate:
        return run_isolated(
            args, lambda impl, detail: pipeline.failure_frame(impl, runs, Status.ERROR, detail), train.KEY
        )
    run = pipeline.train(selected(args, args.device), runs, args.csv, args.min_accuracy)
    if len(run.frame):
        finals = run.frame.sort_values("epoch").groupby(["op", "implementation", "loader", "seed"], sort=False).last()
        for (op, name, loader, seed), row in finals.iterrows():
            print(f"{name} ({op}) [{loader}] seed {seed}: final test accuracy {row['test_accuracy']:.2f}%")
    return print_failures(run.failures)


def cmd_profile(args) -> int:
    """The activation's share of a training step per implementation, and step times in interleaved rounds."""
    results.check_target(args.csv, "profile")
    config = ProfileConfig(steps=args.steps, warmup=args.warmup, rounds=args.rounds)
    run = pipeline.profile(selected(args, args.device), args.device, config, args.data_root, args.csv)
    for op, rows in run.frame.groupby("op", sort=False) if len(run.frame) else ():
        print(f"{op}:\n{render.step_table(rows, BASELINE, 'simple')}\n")
    return print_failures(run.failures)


def cmd_report(args) -> int:
    # A quick report goes beside the full one, never over it.
    out = Path(args.out or f"reports/{'gpu' if args.device == 'cuda' else 'cpu'}{'-quick' if args.quick else ''}")
    command = "opbench " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    if args.source:
        readme = report.write(Path(args.source), out, command, args.quick, args.allow_mixed)
    else:  # plugins are loaded already: their implementations are measured too
        readme = pipeline.report(out, args.device, args.quick, args.data_root, command)
    print(f"{report.summary(out)}\n\nThe report: {readme}")
    return 0


def cmd_compare(args) -> int:
    try:
        comparison = compare.compare(Path(args.base), Path(args.new), args.across_machines, args.relative)
    except (OSError, results.ResultsError, pd.errors.ParserError) as error:
        print(f"opbench: compare: {error}", file=sys.stderr)
        return 2
    print(compare.text(comparison, args.base, args.new, args.across_machines))
    if args.fail_above is None:
        return 0
    worse = compare.regressions(comparison.table, args.fail_above)
    for row in worse.itertuples():
        print(
            f"FAIL {row.implementation} ({row.op}): {row.change_pct:+.1f}% slower "
            f"(adjusted p = {row.p_adjusted:.2g}), above {args.fail_above}%"
        )
    return 1 if len(worse) else 0


COMMANDS = {
    "list": cmd_list,
    "data": cmd_data,
    "build": cmd_build,
    "check": cmd_check,
    "bench": cmd_bench,
    "train": cmd_train,
    "report": cmd_report,
    "compare": cmd_compare,
    "profile": cmd_profile,
    "accuracy": cmd_accuracy,
}

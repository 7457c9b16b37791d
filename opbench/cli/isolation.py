"""Process isolation: plugins' timings in a child process the parent witnesses (the default for bench with --plugin),
and --isolate, each implementation in a child of its own whose hang, crash or kill becomes its error row."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from opbench.cli.options import selected
from opbench.core import BASELINE, Status
from opbench.pipeline import label
from opbench.reporting import results
from opbench.timing import bench, witness

# Options of the parent's command line that no child gets (it is given its own CSV), and those an
# --isolate child gets in its own form (one implementation, no timeout of its own).
PARENT_FLAGS = ("--isolate", "--in-process")
PARENT_OPTIONS = ("--csv",)
SELECTION_OPTIONS = ("--impl", "--op", "--timeout")


def child_argv(argv: list[str], extra: list[str], dropped: tuple[str, ...] = ()) -> list[str]:
    """The command line again, for one child process: without the parent's own options and `dropped`,
    with `extra`."""
    options = PARENT_OPTIONS + dropped
    kept, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token in PARENT_FLAGS:
            continue
        elif token in options:
            skip = True
        elif not token.startswith(tuple(f"{option}=" for option in options)):
            kept.append(token)
    return [*kept, *extra]


def witnessed(args) -> bool:
    """Whether this command times plugin code in a witnessed child (bench with --plugin, by default);
    then this process must not import the plugins."""
    return args.command == "bench" and bool(args.plugin) and not (args.in_process or args.isolate)


def run_child(
    args,
    extra: list[str],
    key: list[str],
    dropped: tuple[str, ...] = (),
    timeout: float | None = None,
    quiet: bool = False,
) -> tuple[int | None, pd.DataFrame | None]:
    """The command again in a child process writing its own CSV (quiet: its stdout dropped, for the
    parent to print the rows itself); its exit status (None: timed out) and its rows, bench rows as the
    parent's witness saw them (bench.witnessed). Ctrl-C reaches the child too: its finished rows are
    kept, then the interrupt goes on."""
    argv = list(sys.argv[1:] if args.argv is None else args.argv)
    csv = Path(tempfile.mkdtemp(prefix="opbench-child-")) / f"{args.command}.csv"
    watcher = witness.Witness() if args.command == "bench" else None
    if watcher:  # the child times its implementations itself, never in children of its own
        extra = [*extra, "--in-process"]
    command = [sys.executable, "-m", "opbench.cli", *child_argv(argv, [*extra, "--csv", str(csv)], dropped)]
    options = dict(env=watcher.env(), pass_fds=watcher.pass_fds) if watcher else {}
    if quiet:
        options["stdout"] = subprocess.DEVNULL
    child, interrupted = subprocess.Popen(command, **options), None
    try:
        returncode = child.wait(timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
        returncode = None
    except KeyboardInterrupt as stop:
        child.wait()
        returncode, interrupted = child.returncode, stop
    if watcher:
        watcher.close()
    frame = results.load(csv) if csv.exists() and csv.stat().st_size else None
    if frame is not None and watcher:
        frame = bench.witnessed(frame, watcher.seen())
    if interrupted:
        if frame is not None and args.csv:
            results.save(frame, args.csv, args.command, key)
        raise interrupted
    return returncode, frame


def killed(returncode: int) -> str:
    return f"killed by {signal.Signals(-returncode).name} in its own process"


def run_witnessed(args) -> tuple[int, pd.DataFrame]:
    """bench with plugins, in one witnessed child (timing.witness): its exit status and rows (saved to
    --csv), FAIL lines printed for a child that timed out or was killed."""
    returncode, frame = run_child(args, [], bench.KEY, quiet=True)
    frame = frame if frame is not None else pd.DataFrame()
    if args.csv and len(frame):
        results.save(frame, args.csv, "bench", bench.KEY)
    if returncode is not None and returncode < 0:
        print(f"FAIL the timing process was {killed(returncode)}; its finished rows are kept")
    return returncode, frame


def run_isolated(args, failed_row, key: list[str], show=None) -> int:
    """Each selected implementation in a child process of its own, given args.timeout seconds: a hang,
    a crash or an out-of-memory kill ends that child alone and becomes that implementation's error
    row (failed_row(impl, detail) -> frame), and the run goes on. bench children time torch beside each
    implementation, so that its ratios come from the same rounds, and are witnessed; with show, each
    child's rows are printed by show(frame) -> exit status (their stdout dropped: it cannot say what
    only this process saw)."""
    csv = args.csv or str(Path(tempfile.mkdtemp(prefix="opbench-isolated-")) / f"{args.command}.csv")
    failures, shown = [], 0
    for impl in selected(args, args.device):
        names = [impl.name] if args.command != "bench" or impl.name == BASELINE else [BASELINE, impl.name]
        selection = ["--op", impl.op.name, *(item for name in names for item in ("--impl", name))]
        returncode, frame = run_child(args, selection, key, SELECTION_OPTIONS, args.timeout, quiet=show is not None)
        if frame is not None:
            results.save(frame, csv, args.command, key)
            shown |= show(frame) if show else 0
        if returncode == 0 or (returncode == 1 and show):  # 1: failed rows, which show printed
            continue
        if returncode is not None and returncode > 0:  # the child finished and wrote its own rows and FAIL lines
            failures.append(f"{label(impl)}: its process exited {returncode}")
            continue
        detail = (
            f"timed out after {args.timeout:g} s in its own process (--isolate)"
            if returncode is None
            else f"{killed(returncode)} (--isolate)"
        )
        failures.append(f"{label(impl)}: {Status.ERROR}: {detail}")
        results.save(failed_row(impl, detail), csv, args.command, key)
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures or shown else 0

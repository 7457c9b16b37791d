"""Process isolation (--isolate): each implementation in a child process of its own, whose hang, crash or kill becomes
that implementation's error row."""

from __future__ import annotations

import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from opbench.cli.options import selected
from opbench.core import BASELINE, Status
from opbench.pipeline import label


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
    row (failed_row(impl, detail, csv)), and the run goes on. bench children time torch beside each
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
                failures.append(f"{label(impl)}: its process exited {returncode}")
                continue
            detail = f"killed by {signal.Signals(-returncode).name} in its own process (--isolate)"
        failures.append(f"{label(impl)}: {Status.ERROR}: {detail}")
        failed_row(impl, detail, csv)
    for line in failures:
        print(f"FAIL {line}")
    return 1 if failures else 0

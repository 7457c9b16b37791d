"""The `opbench` command: `opbench` and `python -m opbench.cli` parse the options (cli.options), load plugins and run
one subcommand (cli.commands)."""

from __future__ import annotations

import signal
import sys
import tempfile
from pathlib import Path

import opbench
from opbench import core
from opbench.cli import isolation
from opbench.cli.commands import COMMANDS
from opbench.cli.options import UsageError, build_parser
from opbench.core import IMPLEMENTATION_ERRORS, UnavailableError, describe
from opbench.reporting import results
from opbench.spec.devices import device_present
from opbench.training import data


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = argv
    with tempfile.NamedTemporaryFile(prefix="opbench-native-", suffix=".log", delete=False) as log:
        core.NATIVE_LOG = None if args.verbose else log.name
    try:
        return _run(args)
    finally:
        core.NATIVE_LOG = None
        lines = Path(log.name).read_bytes().count(b"\n")
        if lines:
            print(f"opbench: {lines} lines of the C++ libraries' own logging in {log.name} (--verbose shows them)")
        else:
            Path(log.name).unlink(missing_ok=True)


def _run(args) -> int:
    # A witnessed command's plugins are imported by its child alone (cli.isolation).
    for plugin in [] if isolation.witnessed(args) else args.plugin:
        try:
            opbench.load_plugin(plugin)
        except IMPLEMENTATION_ERRORS as error:  # its code, its error: named in one line, no traceback of ours
            print(f"opbench: --plugin {plugin}: {describe(error)}", file=sys.stderr)
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
    except (UnavailableError, results.WriteError) as error:
        print(f"opbench: {error}", file=sys.stderr)
        return 1
    except OSError as error:  # a plot, the report or a log that could not be written: its path and why
        print(f"opbench: {error.filename or ''}: {error.strerror or error}", file=sys.stderr)
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

"""The vocabulary every module shares, with no dependencies of its own: statuses, failures, the baseline and yardstick
names, directions and the bytes each direction moves.

The method behind these names is written once, in docs/methodology.md.
"""

from __future__ import annotations

import contextlib
import enum
import os
import sys
import threading


class Status(enum.StrEnum):
    """What a row of check.csv, bench.csv, train.csv or profile.csv says happened. Only PASS, DEVIATING
    (checks), OK and FAILED_VERIFICATION (timing, training) rows carry measured numbers."""

    PASS = "pass"  # a check: within tolerance
    FAIL = "fail"  # a check: wrong, or raised (the detail names the element or the exception)
    DEVIATING = "deviating"  # a check of edges or limits: differs from the reference; fails only with --strict
    OK = "ok"  # timed (and its timed outputs verified) or trained
    UNAVAILABLE = "unavailable"  # cannot run here: no device, a failed build; the detail says why
    FAILED_CHECK = "failed check"  # not timed or trained: its forward or backward check failed
    FAILED_VERIFICATION = "failed verification"  # timed, but a timed call's output was wrong: no speedup
    ERROR = "error"  # raised while timing or training; the detail is the exception's first line


# Statuses that make a command exit 1: the implementation could not do what was asked of it.
FAILURES = (Status.FAIL, Status.FAILED_CHECK, Status.FAILED_VERIFICATION, Status.ERROR)


class UnavailableError(RuntimeError):
    """An implementation cannot run here (no device, a failed build); the message says why."""


# What code under measurement may raise that ends its own row, never the run: every exception but
# KeyboardInterrupt (Ctrl-C, and SIGTERM, which the `opbench` script turns into one). A plugin's
# sys.exit() is a SystemExit: its implementation's error row, and the sweep goes on.
IMPLEMENTATION_ERRORS = (Exception, SystemExit, GeneratorExit)


@contextlib.contextmanager
def naming_threads_left(owner: str):
    """Around `owner`'s calls: name the Python threads they start that are still alive afterwards
    ("left by OWNER: ..."), so that a busy machine's note says whose work is still running."""
    before = set(threading.enumerate())
    try:
        yield
    finally:
        for thread in set(threading.enumerate()) - before:
            if not thread.name.startswith("left by "):
                thread.name = f"left by {owner}: {thread.name}"


# Where the C++ libraries' own logging goes while opbench runs them (torch.profiler's Kineto writes
# "USDT: profiler_start" lines, and "ERROR: gpuGetDeviceCount failed" on a machine without a GPU,
# straight to file descriptor 2): a file the command names at its end, or the terminal when None
# (`--verbose`, and in-process callers that never set it).
NATIVE_LOG: str | None = None


@contextlib.contextmanager
def native_messages_logged():
    """Around a call into a chatty C++ library: file descriptor 2 appended to NATIVE_LOG (Python's
    own sys.stderr writes included), restored afterwards."""
    if NATIVE_LOG is None:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(NATIVE_LOG, "ab") as log:
            os.dup2(log.fileno(), 2)
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)


def first_line(error: BaseException) -> str:
    """An exception's first message line, else its type name: reasons and failures in rows fit one line."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def describe(error: BaseException) -> str:
    """'TypeError: what it said', the one-line detail of an error row."""
    return f"{type(error).__name__}: {first_line(error)}"


# Each op's own PyTorch implementation, registered with the op: every speedup is measured against it.
BASELINE = "torch"
# An implementation's out= variant, timed as its own entry: kernel time without the output's allocation.
OUT_SUFFIX = " (out=)"
# The yardsticks timed beside every forward: the bandwidth limit, and the same traffic with allocation.
COPY = "copy (bandwidth limit)"
CLONE = "clone (with allocation)"
YARDSTICKS = (COPY, CLONE)
# A bench row's witness: "" for opbench's own code timed in its own process; a plugin's rows timed in the
# process that imported it say UNWITNESSED (--in-process: its clocks could have been patched), those a
# parent process saw timed (timing.witness) WITNESSED.
UNWITNESSED, WITNESSED = "none", "parent"


def baseline_for(name: str) -> str:
    """The entry a ratio compares `name` with: torch, or torch's out= variant for an out= entry."""
    return BASELINE + OUT_SUFFIX if name.endswith(OUT_SUFFIX) else BASELINE


DIRECTIONS = ("fwd", "bwd", "fwd+bwd")


def tensors_touched(direction: str, inputs: int = 1) -> int:
    """Tensors of n elements an op of `inputs` inputs must touch once: fwd reads them and writes y (2 for
    one input, 3 for a gated op); bwd reads grad and the inputs and writes each input's gradient (3, 5);
    fwd+bwd both (5, 8) (docs/methodology.md, "Bytes moved")."""
    return {"fwd": inputs + 1, "bwd": 2 * inputs + 1, "fwd+bwd": 3 * inputs + 2}[direction]


def bytes_moved(direction: str, numel: int, dtype, inputs: int = 1) -> int:
    """Bytes a call of `direction` must move over tensors of numel elements of dtype (a torch.dtype)."""
    return tensors_touched(direction, inputs) * numel * dtype.itemsize


# The parts of a LeNet-5 training step that the step profile splits its time into (profile.csv columns).
STEP_PARTS = (
    "activation forward",
    "other forward",
    "activation backward",
    "other backward",
    "optimizer",
    "rest of step",
)

"""--isolate: a hanging or crashing plugin costs its own process and at most its timeout; the others are measured."""

import subprocess
import sys
import time

import pandas as pd
import pytest

from opbench.core import Status

PLUGIN = """
import ctypes, time
import opbench
import torch.nn.functional as F

@opbench.register("hangs", description="sleeps forever")
def hangs(x):
    time.sleep(3600)

@opbench.register("segfaults", description="reads address 0")
def segfaults(x):
    ctypes.string_at(0)
"""


@pytest.mark.slow
def test_hanging_and_crashing_plugins_are_error_rows(tmp_path):
    plugin = tmp_path / "untrusted.py"
    plugin.write_text(PLUGIN)
    csv = tmp_path / "check.csv"
    start = time.monotonic()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opbench.cli",
            "check",
            "--plugin",
            str(plugin),
            "--isolate",
            "--timeout",
            "10",
            "--impl",
            "hangs",
            "--impl",
            "segfaults",
            "--impl",
            "torch",
            "--dtype",
            "float32",
            "--csv",
            str(csv),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "FAIL hangs (gelu): error: timed out after 10 s in its own process" in result.stdout
    assert "FAIL segfaults (gelu): error: killed by SIGSEGV in its own process" in result.stdout
    frame = pd.read_csv(csv).set_index(["implementation", "check"])
    assert frame.loc[("hangs", "process"), "status"] == Status.FAIL
    assert (frame.loc["torch", "status"].isin([Status.PASS, Status.DEVIATING])).all()
    assert elapsed < 10 + 3 * 60  # the hang cost its timeout, not an hour

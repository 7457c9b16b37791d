"""scripts/gpu_check.sh: its arguments are checked before any step runs, and its dry run (every step of the real GPU
run, on the CPU) passes and leaves a report."""

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import LOCAL_MNIST, requires_mnist

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "gpu_check.sh"
STEPS = ("install", "build", "tests", "check", "bench", "train", "train_others", "profile", "report")


def run(*args, env=None):
    return subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, timeout=600, env=env)


@pytest.mark.parametrize(
    "args, message",
    [
        (["--dry-run"], "gpu_check.sh: no OUT folder"),
        (["--bogus", "out"], "gpu_check.sh: unknown option --bogus"),
        (["a", "b"], "gpu_check.sh: one OUT folder, got a and b"),
        (["/proc/opbench-out"], "gpu_check.sh: OUT /proc/opbench-out is not a writable folder"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2_before_any_step(args, message, tmp_path):
    result = subprocess.run(["bash", str(SCRIPT), *args], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(message) and len(result.stderr.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


@requires_mnist
@pytest.mark.slow
def test_dry_run_runs_every_step_on_the_cpu_and_writes_the_report(tmp_path):
    import os

    env = {**os.environ, "OPBENCH_DATA": str(LOCAL_MNIST), "PYTHON": sys.executable}
    result = run("--dry-run", str(tmp_path), env=env)
    steps = (tmp_path / "steps.txt").read_text().splitlines()
    assert result.returncode == 0, "\n".join(steps)
    assert [line.split(":")[0] for line in steps] == list(STEPS)
    assert all(": exit 0 after" in line for line in steps)
    for name in ("check.csv", "bench.csv", "train.csv", "profile.csv", "README.md", "environment.txt"):
        assert (tmp_path / name).stat().st_size > 0, name
    assert "mode: dry run (CPU)" in (tmp_path / "environment.txt").read_text()
    runs = (tmp_path / "RUNS.md").read_text()
    assert "git: " in runs and "- bench: `" in runs and "--device cpu" in runs
    assert "## gelu-tanh" in (tmp_path / "README.md").read_text()

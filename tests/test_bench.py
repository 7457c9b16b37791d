"""Timing and sweeps: bytes moved, CSV rows that re-runs replace, and a smoke run of the benchmark suite."""

import math
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch

import opbench
from opbench import bench, report, timing
from opbench.cli import main
from tests.conftest import requires_cuda

ROOT = Path(__file__).resolve().parent.parent


def test_parse_size():
    assert [bench.parse_size(s) for s in ("2^16", "4**5", "1000")] == [65536, 1024, 1000]


def test_bytes_moved_counts_every_tensor_touched():
    assert timing.bytes_moved("fwd", 1000, torch.float32) == 8000  # read x, write y
    assert timing.bytes_moved("bwd", 1000, torch.bfloat16) == 6000  # read grad and x, write grad_input
    assert timing.bytes_moved("fwd+bwd", 10, torch.float64) == 400


@pytest.mark.parametrize("direction", timing.DIRECTIONS)
def test_runner_does_the_direction(direction):
    calls = []

    def spy(x):
        calls.append(x.requires_grad)
        return x * 2

    run = timing.make_runner(spy, direction, 16, torch.float32, "cpu")
    out = run()
    if direction == "fwd":
        assert calls == [False] and out.shape == (16,)  # no graph is built for a forward timing
    else:
        assert calls == [True] and torch.equal(out[0], torch.full((16,), 2.0))  # d(2x)/dx
        run()
        assert len(calls) == (1 if direction == "bwd" else 2)  # bwd replays only the backward


def test_measure_reports_ordered_percentiles():
    measured = timing.measure(lambda: torch.ones(1000).sum(), "cpu", min_run_time=0.05)
    assert 0 < measured.p20_s <= measured.median_s <= measured.p80_s
    assert measured.runs >= 1
    assert math.isnan(measured.kernel_s)  # GPU kernel time exists only on CUDA


@requires_cuda
@pytest.mark.cuda
def test_kernel_time_is_measured_on_cuda():
    run = timing.make_runner(opbench.get("torch"), "fwd", 2**20, torch.float32, "cuda")
    measured = timing.measure(run, "cuda", min_run_time=0.05)
    assert 0 < measured.kernel_s < 1, measured


def test_report_shows_the_kernel_share_of_gpu_calls():
    rows = [dict(implementation=name, device="cuda", dtype="float32", direction="bwd", numel=2**24, status="ok",
                 median_s=median, kernel_s=5e-5, gbps=1.0) for name, median in (("torch", 7e-5), ("cuda", 1e-4))]
    text = report.timing_tables(bench.add_comparisons(pd.DataFrame(rows)))
    assert "GPU time in kernels per call" in text
    assert "50 µs (50%)" in text and "50 µs (71%)" in text  # cuda, torch


def test_sweep_csv_rows_are_replaced_not_duplicated(tmp_path):
    csv = tmp_path / "bench.csv"
    args = ["bench", "--impl", "torch", "--impl", "cpp", "--sizes", "2^10,2^12", "--direction", "fwd,bwd",
            "--csv", str(csv), "--quick"]
    assert main(args) == 0
    first = pd.read_csv(csv)
    assert main(args) == 0
    second = pd.read_csv(csv)
    assert len(first) == len(second) == 2 * 2 * 2 + 2  # impl x size x direction, plus the copy per size
    timed = second[second["implementation"] == "cpp"]
    assert (timed["gbps"] > 0).all() and (timed["roofline_fraction"] > 0).all()
    assert (second[second["implementation"] == "torch"]["speedup_vs_torch"] == 1).all()
    assert (timed["cold_call_s"] > 0).all()
    for column in ("device_name", "cpu_model", "threads", "torch_version", "git_sha", "timestamp", "p20_s", "p80_s"):
        assert second[column].notna().all(), column


def test_failing_implementation_is_not_timed(scratch_registry):
    scratch_registry.register("wrong-sign", lambda x: -torch.nn.functional.gelu(x))
    frame = bench.sweep([opbench.get("wrong-sign")], "cpu", [torch.float32], [1024], ["fwd"], min_run_time=0.01)
    row = frame[frame["implementation"] == "wrong-sign"].iloc[0]
    assert row["status"] == "failed check" and "forward error" in row["detail"]
    assert pd.isna(row["median_s"])


def test_benchmark_suite_smoke_run():
    """Every benchmark file runs, once per case at a tiny size, so the suites cannot rot."""
    env = dict(os.environ, OPBENCH_BENCH_SIZES="1024")
    result = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/", "-q", "--benchmark-disable", "-p",
                             "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout

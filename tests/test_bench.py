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
from opbench import core, pipeline
from opbench.cli import main
from opbench.core import Status
from opbench.correctness import check
from opbench.reporting import render, results, sections
from opbench.spec import inputs
from opbench.spec.activations import GELU, SWIGLU
from opbench.timing import bench, casetimer, coldcache, engine, memory, workloads
from tests.conftest import requires_cuda

ROOT = Path(__file__).resolve().parent.parent


def test_parse_size_and_label():
    assert [inputs.parse_size(s) for s in ("2^16", "4**5", "1000")] == [65536, 1024, 1000]
    assert [inputs.size_label(n) for n in (65536, 1000)] == ["2^16", "1000"]


def test_bytes_moved_counts_every_tensor_touched():
    assert core.bytes_moved("fwd", 1000, torch.float32) == 8000  # read x, write y
    assert core.bytes_moved("bwd", 1000, torch.bfloat16) == 6000  # read grad and x, write grad_input
    assert core.bytes_moved("fwd+bwd", 10, torch.float64) == 400


@pytest.mark.parametrize("direction", core.DIRECTIONS)
def test_calls_do_the_direction_each_on_its_own_window(direction):
    seen = []

    def spy(x):
        seen.append((x.data_ptr(), x.requires_grad))
        return x * 2

    workload = workloads.Workload(workloads.Case(GELU, direction, 16, torch.float32, "cpu"), windows=3)
    calls = workloads.calls_for(spy, direction, workload, 4, baseline=False)
    built = len(seen)  # bwd builds one graph per window up front, and each call replays only its backward
    assert built == (3 if direction == "bwd" else 0)
    results = [workloads.outputs_of(call())[0] for call in calls]
    pointers = [pointer for pointer, _ in seen]
    assert len(set(pointers)) == 3 and all(grad == (direction != "fwd") for _, grad in seen)
    assert len(seen) == (3 if direction == "bwd" else 4)
    if direction == "fwd":
        assert torch.equal(results[0], 2 * workload.plain[0][0])
    else:
        assert torch.equal(results[1], 2 * workload.grads[1])  # d(2x)/dx times the upstream gradient


def test_each_round_gives_every_window_new_values_in_place():
    workload = workloads.Workload(workloads.Case(GELU, "fwd", 1000, torch.float32, "cpu"), windows=2)
    windows = [w for (w,) in workload.plain]
    before = [w.clone() for w in windows]
    pointers, versions = [w.data_ptr() for w in windows], [w._version for w in windows]
    workload.refresh(1)
    assert [w.data_ptr() for w in windows] == pointers and [w._version for w in windows] == versions
    assert all((w != b).all() for w, b in zip(windows, before))
    assert torch.equal(workload.window(workload.expected()[0], 1), GELU.expected(*workload.plain[1]))


def test_cases_time_every_entry_in_every_round_of_every_pass():
    case = workloads.Case(GELU, "fwd", 4096, torch.float32, "cpu")
    entries = {**workloads.yardsticks(), "torch": opbench.get("torch")}
    measured = casetimer.measure_case(entries, case, casetimer.Passes(rounds=4, passes=2, block_s=0.002))
    for name, result in measured.items():
        assert result.status == Status.OK and [len(p) for p in result.passes] == [4, 4], (name, result)
        assert result.calls_per_block >= 1 and all(0 < s < 0.01 for p in result.passes for s in p)
        assert math.isnan(result.kernel_s)  # GPU kernel time exists only on CUDA


@requires_cuda
@pytest.mark.cuda
def test_kernel_time_is_measured_on_cuda():
    case = workloads.Case(GELU, "fwd", 2**20, torch.float32, "cuda")
    measured = casetimer.measure_case(
        {"torch": opbench.get("torch")}, case, casetimer.Passes(passes=1, rounds=2, block_s=0.002)
    )
    assert 0 < measured["torch"].kernel_s < 1, measured


def test_report_shows_the_kernel_share_of_gpu_calls():
    rows = [
        dict(
            implementation=name,
            device="cuda",
            dtype="float32",
            direction="bwd",
            numel=2**24,
            status="ok",
            median_s=median,
            ci_low_s=median,
            ci_high_s=median,
            kernel_s=5e-5,
            gbps=1.0,
            bytes=1,
            bandwidth_fraction=0.5,
            clone_fraction=0.5,
            above_limit=False,
            time_vs_torch=1.0,
            time_low=1.0,
            time_high=1.0,
        )
        for name, median in (("torch", 7e-5), ("cuda", 1e-4))
    ]
    text = sections.timing_tables(pd.DataFrame(rows))
    assert "GPU time in kernels per call" in text
    assert "50 µs (50%)" in text and "50 µs (71%)" in text  # cuda, torch


@pytest.mark.slow
def test_sweep_rows_carry_intervals_samples_and_provenance_and_reruns_replace_them(tmp_path):
    csv = tmp_path / "bench.csv"
    args = [
        "bench",
        "--impl",
        "torch",
        "--impl",
        "cpp",
        "--sizes",
        "2^10,2^12",
        "--direction",
        "fwd,bwd",
        "--csv",
        str(csv),
        "--rounds",
        "2",
    ]
    assert main(args) == 0
    assert main(args) == 0
    frame = pd.read_csv(csv)
    assert len(frame) == 2 * 2 * 4  # size x direction x (2 implementations + 2 baselines), not twice that
    timed = frame[frame["implementation"] == "cpp"]
    assert (timed["gbps"] > 0).all() and (timed["bandwidth_fraction"] > 0).all() and (timed["clone_fraction"] > 0).all()
    assert (timed["time_low"] <= timed["time_vs_torch"]).all() and (timed["time_vs_torch"] <= timed["time_high"]).all()
    assert (timed["ci_low_s"] <= timed["median_s"]).all() and (timed["median_s"] <= timed["ci_high_s"]).all()
    passes = timed["samples_s"].map(results.samples_of)
    assert (passes.map(len) == casetimer.PASSES).all() and (passes.map(lambda p: {len(r) for r in p}) == {2}).all()
    assert (timed["passes"] == casetimer.PASSES).all() and (timed["rounds"] == 2 * casetimer.PASSES).all()
    assert (frame[frame["implementation"] == "torch"]["speedup_vs_torch"] == 1).all()
    assert (timed["cold_call_s"] > 0).all()
    for column in ("device_name", "cpu_model", "threads", "torch_version", "git_sha", "timestamp"):
        assert frame[column].notna().all(), column


def test_bandwidth_limit_is_flagged_when_beaten(scratch_registry):
    """An op that 'moves' its bytes faster than out.copy_(x) (here: returns a cached tensor it never
    writes) is flagged as a measurement problem, whatever verification says of it."""
    frame = pd.DataFrame([dict(implementation="fast", status="ok", numel=1 << 20, dtype="float32", bytes=8 << 20)])
    measured = {"fast": engine.Measured(passes=[[1e-6] * 5]), core.COPY: engine.Measured(passes=[[2e-6] * 5])}
    flagged = bench.add_comparisons(frame, measured)
    assert flagged["above_limit"].iloc[0] and flagged["bandwidth_fraction"].iloc[0] == pytest.approx(2.0)
    assert flagged["status"].iloc[0] == "failed verification" and pd.isna(flagged["time_vs_torch"].iloc[0])
    assert "measurement problem" in "\n".join(
        render.bench_notes(flagged.assign(device="cpu", direction="fwd", detail=""))
    )


def test_time_vs_torch_is_the_median_of_time_ratios_not_the_inverse_of_the_speedups():
    """A bimodal implementation (fast and slow calls alternating; a 2^24 output with huge pages is one):
    the median of an even count averages two, so the inverse of the median speedup is another number
    than the median time ratio, which `compare --relative` compares; the table shows the latter."""
    frame = pd.DataFrame(
        [
            dict(implementation=name, status="ok", numel=1024, dtype="float32", bytes=8192)
            for name in ("torch", "bimodal")
        ]
    )
    measured = {
        "torch": engine.Measured(passes=[[1.0] * 4] * 6),
        "bimodal": engine.Measured(passes=[[0.4, 1.6] * 2] * 6),
    }
    row = bench.add_comparisons(frame, measured).set_index("implementation").loc["bimodal"]
    assert row["time_vs_torch"] == pytest.approx(1.0) and row["speedup_vs_torch"] == pytest.approx((2.5 + 0.625) / 2)


def test_failing_implementation_is_not_timed(scratch_registry):
    scratch_registry.register("wrong-sign", lambda x: -torch.nn.functional.gelu(x))
    frame = bench.sweep([opbench.get("wrong-sign")], bench.SweepConfig(sizes=[1024], directions=["fwd"], rounds=2))
    row = frame[frame["implementation"] == "wrong-sign"].iloc[0]
    assert row["status"] == Status.FAILED_CHECK and "forward: forward error" in row["detail"]
    assert pd.isna(row["median_s"])


@pytest.mark.slow
def test_benchmark_suite_smoke_run():
    """Every benchmark file runs, once per case at a tiny size, so the suites cannot rot."""
    env = dict(os.environ, OPBENCH_BENCH_SIZES="1024")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "benchmarks/", "-q", "--benchmark-disable", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert " passed" in result.stdout


def test_verified_gradients_get_the_checks_tolerance():
    """F.gelu(approximate='tanh') flushes its gradient to 0 below x ~ -5 (|GELU'| ~ 2e-6 there), which
    check_backward accepts with atol scaled by |grad|; verified timing must accept it the same way."""
    case = workloads.Case(opbench.get_op("gelu-tanh"), "fwd+bwd", 1 << 14, torch.float32, "cpu")
    measured = casetimer.measure_case(
        {"torch": opbench.get("torch", op="gelu-tanh")}, case, casetimer.Passes(passes=1, rounds=3, block_s=0.002)
    )
    assert measured["torch"].status == Status.OK, measured["torch"].detail


@pytest.mark.slow
def test_out_variants_are_timed_beside_the_ops_and_compared_with_torchs(tmp_path):
    csv = tmp_path / "bench.csv"
    assert (
        main(
            [
                "bench",
                "--impl",
                "torch",
                "--impl",
                "cpp",
                "--impl",
                "python",
                "--sizes",
                "2^12",
                "--direction",
                "fwd,bwd,fwd+bwd",
                "--outputs",
                "both",
                "--rounds",
                "3",
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    frame = pd.read_csv(csv).set_index(["implementation", "direction"])
    for direction in ("fwd", "bwd"):
        assert frame.loc[("cpp (out=)", direction), "status"] == "ok"
        assert frame.loc[("torch (out=)", direction), "time_vs_torch"] == 1  # out= rows: vs torch's out=
    assert ("cpp (out=)", "fwd+bwd") not in frame.index and ("python (out=)", "fwd") not in frame.index
    only = tmp_path / "only.csv"
    assert (
        main(
            [
                "bench",
                "--impl",
                "torch",
                "--impl",
                "python",
                "--sizes",
                "2^12",
                "--direction",
                "fwd",
                "--outputs",
                "preallocated",
                "--rounds",
                "2",
                "--csv",
                str(only),
            ]
        )
        == 0
    )
    rows = pd.read_csv(only).set_index("implementation")
    assert rows.loc["python", "status"] == "unavailable" and rows.loc["python", "detail"] == "no out= variant"
    assert "torch" not in rows.index and rows.loc["torch (out=)", "status"] == "ok"


def test_rows_record_the_settings_that_change_what_is_measured(monkeypatch):
    monkeypatch.delenv("ATEN_CPU_CAPABILITY", raising=False)
    monkeypatch.setenv("THP_MEM_ALLOC_ENABLE", "1")
    assert results.to_frame([dict(implementation="x")], "cpu")["settings"].iloc[0] == "THP_MEM_ALLOC_ENABLE=1"
    assert "settings" in results.MACHINE  # rows measured under other settings are kept apart, as other machines


def test_interval_width_is_of_the_ratio_to_the_baseline_or_of_the_baselines_own_time():
    samples = {"torch": [[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]], "mine": [[0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]]}
    assert casetimer.interval_width(samples, "mine") == 0.0  # half of torch's time in every round: no doubt at all
    assert casetimer.interval_width(samples, "torch") == pytest.approx((64.0 - 1.0) / 2 / 8.0)


def test_passes_continue_until_every_interval_is_narrow_enough_up_to_the_cap():
    case = workloads.Case(GELU, "fwd", 1024, torch.float32, "cpu")
    entries = {"torch": opbench.get("torch"), "python": opbench.get("python")}
    loose = casetimer.measure_case(
        entries, case, casetimer.Passes(rounds=2, passes=2, block_s=0.001, target_width=1e9, max_passes=4)
    )
    assert {len(m.passes) for m in loose.values()} == {2}
    unreachable = casetimer.measure_case(
        entries, case, casetimer.Passes(rounds=2, passes=2, block_s=0.001, target_width=0.0, max_passes=4)
    )
    assert {len(m.passes) for m in unreachable.values()} == {4}


def test_a_sweep_times_every_cases_first_pass_before_any_second_and_saves_each_pass(monkeypatch):
    order, saved = [], []
    run_pass = casetimer.CaseTimer.run_pass

    def recording(timer, rounds):
        order.append((timer.case.numel, timer.passes_done + 1))
        run_pass(timer, rounds)

    monkeypatch.setattr(casetimer.CaseTimer, "run_pass", recording)
    config = bench.SweepConfig(sizes=[1024, 4096], directions=["fwd"], rounds=1, block_s=0.001, passes=3)
    frame = bench.sweep([opbench.get("torch")], config, on_rows=saved.append)
    assert order == [(1024, 1), (4096, 1), (1024, 2), (4096, 2), (1024, 3), (4096, 3)]
    # each case's rows are saved as its pass ends: an interruption keeps every pass done
    assert [(f["numel"].iloc[0], sorted(set(f["passes"]))) for f in saved] == [
        (n, [k]) for k in (1, 2, 3) for n in (1024, 4096)
    ]
    assert len(frame) == 2 * 3 and set(frame["passes"]) == {3}  # the last rows of each case, once


# ---- shapes, layouts and memory ------------------------------------------------------------------


def test_shape_presets_name_their_models_and_lenet5s_activations():
    assert inputs.parse_shape("llama3-8b") == [(2048, 14336)] and inputs.parse_shape("gpt2", 64) == [(64, 3072)]
    assert inputs.parse_shape("2^3x6x5") == [(8, 6, 5)] and inputs.parse_shape("lenet5")[0] == (64, 6, 24, 24)
    with pytest.raises(ValueError, match="positive"):
        inputs.parse_shape("4x0")


@pytest.mark.parametrize("op", [GELU, SWIGLU], ids=lambda op: op.name)
@pytest.mark.parametrize("layout", inputs.LAYOUTS)
def test_every_window_has_the_cases_shape_and_layout(layout, op):
    """Every input of the op (a gated op's gate and up) in every window, each its own buffer's view."""
    case = workloads.Case(op, "fwd", (4, 6, 8, 8), torch.float32, "cpu", layout)
    workload = workloads.Workload(case, windows=3)
    reference = inputs.layout_view(torch.zeros(inputs.layout_elements(case.shape, layout)), case.shape, layout)
    for views, leaves, grad in zip(workload.plain, workload.leaves, workload.grads):
        assert len(views) == len(leaves) == len(op.inputs)
        for view, leaf in zip(views, leaves):
            assert view.shape == leaf.shape == grad.shape == case.shape
            assert view.stride() == reference.stride() == workload.copy_target.stride()
    assert len({v.data_ptr() for views in workload.plain for v in views}) == 3 * len(op.inputs)
    assert torch.equal(workload.window(workload.expected()[0], 2), op.expected(*workload.plain[2]))


@pytest.mark.slow
def test_a_sweep_times_each_shape_in_each_layout_it_can_have_with_its_memory(tmp_path):
    config = bench.SweepConfig(
        shapes=[(4, 6, 8, 8), (16, 96)], layouts=inputs.LAYOUTS, directions=["fwd", "fwd+bwd"], rounds=1, block_s=0.002
    )
    assert len(config.geometries()) == 4 + 3  # channels-last needs 4-D
    csv = tmp_path / "bench.csv"
    frame = pipeline.sweep([opbench.get("torch"), opbench.get("cpp"), opbench.get("python")], config, csv).frame
    ops = frame[~frame["implementation"].isin(core.YARDSTICKS)]
    assert (ops["status"] == "ok").all(), ops[ops["status"] != "ok"][["implementation", "shape", "layout", "detail"]]
    assert set(zip(ops["shape"], ops["layout"])) == {
        ("x".join(map(str, s)), layout) for s, layout in config.geometries()
    }
    cpp = ops[ops["implementation"] == "cpp"].set_index(["direction", "layout", "shape"]).sort_index()
    # cpp writes a dense input's layout and keeps nothing for backward beyond its input; the halves of
    # chunk() are not dense: its output is contiguous there
    assert (
        cpp.loc[("fwd", "transposed", "16x96"), "keeps_layout"]
        and cpp.loc[("fwd", "channels-last"), "keeps_layout"].all()
    )
    assert not cpp.loc[("fwd", "chunked", "16x96"), "keeps_layout"] and (cpp["saved_bytes"] == 0).all()
    assert ops["peak_bytes"].notna().all() and ops["saved_bytes"].notna().all()  # CPU peaks move in pages
    assert results.load(csv)["layout"].tolist() == frame["layout"].tolist()


def test_saved_bytes_count_what_autograd_keeps_beyond_the_input():
    x = torch.randn(1000, requires_grad=True)
    assert memory.saved_bytes(torch.nn.functional.gelu, (x,)) == 0  # F.gelu saves its input only
    assert memory.saved_bytes(lambda t: torch.nn.functional.silu(t) * t.exp(), (x,)) == 2 * 4000  # silu(t), exp(t)


def test_rows_from_before_shapes_read_as_1d_contiguous(tmp_path):
    old = pd.DataFrame([{"kind": "bench", "op": "gelu", "implementation": "cpp", "direction": "fwd", "numel": 1024}])
    old.to_csv(tmp_path / "bench.csv", index=False)
    row = results.load(tmp_path / "bench.csv").iloc[0]
    assert row["shape"] == "1024" and row["layout"] == "contiguous"


def test_an_implementation_that_assumes_contiguous_input_fails_the_layout_check_naming_the_layout(scratch_registry):
    def reads_memory_in_order(x):  # the storage from x's first element, as if it were contiguous
        return torch.nn.functional.gelu(x.as_strided((x.numel(),), (1,))).view(x.shape) if x.numel() else x * 1

    opbench.register("assumes-contiguous", reads_memory_in_order)
    (row,) = check.run_checks(opbench.get("assumes-contiguous"), "cpu", [torch.float32], ("layouts",))
    assert row.status == "fail" and "chunked input" in row.detail and "transposed input" in row.detail


def test_bench_refuses_a_layout_no_shape_can_have(capsys):
    assert main(["bench", "--sizes", "2^10", "--layout", "channels-last"]) == 2
    assert "--layout channels-last: channels-last needs 4 dimensions (NCHW)" in capsys.readouterr().err
    assert main(["bench", "--shape", "4x0"]) == 2


def test_cold_cases_time_every_call_alone_right_after_an_eviction_pass(monkeypatch, tmp_path):
    """Cold: every timed block, the yardsticks' too, is one call made right after one eviction pass,
    with nothing between them (the warm-up call comes before the pass); the rows say cold."""
    swept = {"evictions": 0, "fresh": False, "blocks": 0}
    timed = casetimer.time_block

    def evict(device):
        swept["evictions"] += 1
        swept["fresh"] = True

    def time_block(block, *args):
        assert swept["fresh"] and len(block.calls) == 1
        swept["fresh"], swept["blocks"] = False, swept["blocks"] + 1
        return timed(block, *args)

    monkeypatch.setattr(coldcache, "evict", evict)
    monkeypatch.setattr(casetimer, "time_block", time_block)
    config = bench.SweepConfig(sizes=[4096], directions=["fwd", "fwd+bwd"], caches=("cold",), block_s=0.001)
    csv = tmp_path / "bench.csv"
    frame = pipeline.sweep([opbench.get("torch"), opbench.get("cpp")], config, csv).frame
    assert (frame["status"] == "ok").all() and (frame["cache"] == "cold").all()
    assert (frame["calls_per_block"] == 1).all() and (frame["rounds"] >= casetimer.PASSES * casetimer.COLD_ROUNDS).all()
    assert swept["evictions"] == swept["blocks"] == frame["rounds"].sum()
    assert (results.load(csv)["cache"] == "cold").all()


def test_the_last_level_cache_is_read_from_sysfs_instruction_caches_aside(monkeypatch, tmp_path):
    for index, (level, kind, size) in enumerate([(1, "Data", "48K"), (1, "Instruction", "64K"), (3, "Unified", "32M")]):
        folder = tmp_path / f"index{index}"
        folder.mkdir()
        for name, value in (("level", level), ("type", kind), ("size", size)):
            (folder / name).write_text(f"{value}\n")
    monkeypatch.setattr(coldcache, "SYSFS", tmp_path)
    assert coldcache.last_level_cache_bytes("cpu") == 32 << 20
    monkeypatch.setattr(coldcache, "SYSFS", tmp_path / "absent")
    monkeypatch.setattr(coldcache.os, "sysconf_names", {})
    with pytest.raises(RuntimeError, match="--cache cold: no cache size"):
        coldcache.last_level_cache_bytes("cpu")


def test_the_eviction_pass_reads_and_writes_twice_the_last_level_cache():
    buffer = coldcache.eviction_buffer("cpu")
    try:
        assert buffer.numel() * buffer.element_size() == 2 * coldcache.last_level_cache_bytes("cpu")
        before = buffer[:: 1 << 16].clone()
        coldcache.evict("cpu")
        assert torch.equal(buffer[:: 1 << 16], before + 1)
    finally:
        del buffer
        coldcache.eviction_buffer.cache_clear()


def test_rows_from_before_cold_timing_read_as_warm_and_the_report_sets_cold_beside_warm(monkeypatch, tmp_path):
    monkeypatch.setattr(coldcache, "evict", lambda device: None)  # the passes' cost, not their effect, is tested here
    old = pd.DataFrame([{"kind": "bench", "op": "gelu", "implementation": "cpp", "direction": "fwd", "numel": 1024}])
    old.to_csv(tmp_path / "old.csv", index=False)
    assert results.load(tmp_path / "old.csv").iloc[0]["cache"] == "warm"
    csv = tmp_path / "bench.csv"
    command = ["bench", "--impl", "torch", "--impl", "cpp", "--sizes", "2^12", "--direction", "fwd", "--quick"]
    assert main([*command, "--cache", "both", "--csv", str(csv)]) == 0
    frame = results.load(csv)
    assert sorted(frame["cache"].unique()) == ["cold", "warm"] and (frame["status"] == "ok").all()
    tables = sections.cache_tables(frame)
    assert "| 2^12 " in tables and "| 2^12 cold " in tables
    assert "cold" not in sections.timing_tables(sections.warm(frame))
    assert sections.cache_tables(sections.warm(frame)) is None

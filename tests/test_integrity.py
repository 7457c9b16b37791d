"""Verdicts that cannot be gamed or crashed: the catalogue of cheats is caught and named, honest implementations in the
same run are timed, finished rows survive failures and kills."""

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import torch

import opbench
from opbench import core
from opbench.cli import main
from opbench.core import Status
from opbench.correctness import check
from opbench.reporting import render
from opbench.spec.activations import GELU
from opbench.timing import bench, casetimer, engine, memory, quiet, witness, workloads
from tests.conftest import requires_cuda

CHEATS = Path(__file__).with_name("cheating_impls.py")
LARGE = 1 << 18  # above cheating_impls.LARGE

# Each cheat, the check that names it, and words of that message.
CAUGHT_BY_CHECKS = {
    "memo-pointer": ("contract", "ignores a change of its input's values made in place"),
    "memo-shape": ("contract", "returns the first input's result for a second input of the same shape"),
    "memo-values": ("contract", "returns a stale result for an input differing from the previous one in one element"),
    "alias-input": ("contract", "returns memory of its input"),
    "mutate-input": ("contract", "changed its input (element 0)"),
    "nondeterministic": ("contract", "differs between two calls on the same input"),
    "prefix-only": ("forward 2^18", "forward error"),
}


@pytest.fixture
def cheats(scratch_registry):
    opbench.load_plugin(str(CHEATS))
    return scratch_registry


@pytest.mark.parametrize("name", CAUGHT_BY_CHECKS)
def test_checks_name_each_cheat(cheats, name):
    failing_check, words = CAUGHT_BY_CHECKS[name]
    rows = check.run_checks(opbench.get(name), "cpu", [torch.float32], sizes=[LARGE])
    failures = {row.check: row.detail for row in check.failed(rows)}
    assert failing_check in failures, rows
    assert words in failures[failing_check]


@pytest.mark.parametrize("name", ["torch", "python", "cpp", "cpp-composite"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
def test_honest_implementations_keep_the_contract(name, dtype):
    """Inaccurate is not dishonest: cpp-composite computes bfloat16 in bfloat16 and fails forward, not the contract."""
    rows = check.run_checks(opbench.get(name), "cpu", [dtype], checks=("contract",))
    assert check.failed(rows) == [], rows


@pytest.mark.parametrize(
    "name, numel, words, first_wrong",
    [
        ("memo-pointer", 4096, "expected", 0),  # stale from the previous round: the buffer rotated under it
        ("memo-shape", 4096, "expected", 0),
        # Zeros from element 2^17 on: the element named is 2^17, or a later one when the reference there is
        # itself within tolerance of 0 (window 1's input at 2^17 is -6.35; which windows are verified
        # depends on the calls per block, so on the machine's speed).
        ("prefix-only", LARGE, "is 0, expected", 1 << 17),
        ("alias-input", 4096, "changed its input", 0),
        ("mutate-input", 4096, "changed its input", 0),
    ],
)
def test_verified_timing_catches_cheats_that_skip_the_checks(cheats, name, numel, words, first_wrong):
    """Straight to the timing engine (no checks first): the cheat's row fails verification, named;
    torch in the same rounds is timed and verified. (memo-values is not here: every timed call sees
    new values at every position, so its cache never hits and it gains nothing, as the next test
    shows; the contract catches it.)"""
    case = workloads.Case(GELU, "fwd", numel, torch.float32, "cpu")
    entries = {**workloads.yardsticks(), "torch": opbench.get("torch"), name: opbench.get(name)}
    measured = casetimer.measure_case(entries, case, casetimer.Passes(passes=1, rounds=3, block_s=0.002))
    assert measured[name].status == Status.FAILED_VERIFICATION, measured[name]
    assert words in measured[name].detail
    element = re.search(r"element (\d+) is", measured[name].detail)
    assert element is None or int(element.group(1)) >= first_wrong, measured[name].detail
    assert measured["torch"].status == Status.OK and measured["torch"].rounds == 3, measured["torch"]


def test_no_timed_call_has_seen_its_input_before(monkeypatch):
    """A cache keyed on all of an input's values is right for every input: only its hits could make it
    fast. Each timed call is made once, on values no earlier call saw, so none hits; a warm-up run of
    the block (torch.utils.benchmark's Timer.timeit makes two) would have served every timed call.
    The one untimed call before each block is on the calibration's input, which no timed call gets."""
    cache, calls, probes = {}, [], set()

    def memo_all_values(x):
        key = x.detach().numpy().tobytes()
        calls.append((key, key in cache))
        if key not in cache:
            cache[key] = torch.nn.functional.gelu(x)
        return cache[key]

    def calibrate_then_forget(*args):  # calibration calls one input over and over: not timed
        count = calibrate(*args)
        probes.update(key for key, _ in calls)
        calls.clear()
        return count

    calibrate = engine.calibrate
    monkeypatch.setattr(casetimer, "calibrate", calibrate_then_forget)
    case = workloads.Case(GELU, "fwd", 1024, torch.float32, "cpu")
    timer = casetimer.CaseTimer({"torch": opbench.get("torch"), "memo": memo_all_values}, case, block_s=0.002)
    rounds = 3
    for first in (True, False):
        timer.run_pass(rounds)
        if first:  # the memory measurement's calls follow the first pass, on a window it timed: memory_use's,
            # then saved_bytes' and the layout probe's
            del calls[-(1 + memory.leak_calls(case.tensor_bytes, "cpu") + 2) :]
        warm_ups = [hit for key, hit in calls if key in probes]
        timed = [hit for key, hit in calls if key not in probes]
        assert warm_ups == [True] * rounds, "one untimed call before each block, on the calibration's input"
        assert len(timed) == rounds * timer.results["memo"].calls_per_block > rounds
        assert not any(timed), f"{sum(timed)} of {len(timed)} timed calls hit"
        calls.clear()
    assert timer.results["memo"].status == Status.OK and timer.results["memo"].rounds == 6


@pytest.mark.parametrize("direction", ["bwd", "fwd+bwd"])
def test_verified_timing_checks_gradients(scratch_registry, direction):
    class HalfGradient(torch.autograd.Function):  # right forward, gradient halved
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return torch.nn.functional.gelu(x)

        @staticmethod
        def backward(ctx, grad):
            return 0.5 * torch.ops.aten.gelu_backward(grad, ctx.saved_tensors[0])

    case = workloads.Case(GELU, direction, 4096, torch.float32, "cpu")
    entries = {"torch": opbench.get("torch"), "half": HalfGradient.apply}
    measured = casetimer.measure_case(entries, case, casetimer.Passes(passes=1, rounds=2, block_s=0.002))
    assert measured["half"].status == Status.FAILED_VERIFICATION
    assert measured["torch"].status == Status.OK


@pytest.mark.slow
def test_sweep_survives_an_implementation_raising_at_one_size(cheats, tmp_path):
    csv = tmp_path / "bench.csv"
    code = main(
        [
            "bench",
            "--impl",
            "torch",
            "--impl",
            "raise-large",
            "--impl",
            "raise-large-backward",
            "--sizes",
            f"2^10,{LARGE}",
            "--direction",
            "fwd,fwd+bwd",
            "--rounds",
            "2",
            "--csv",
            str(csv),
        ]
    )
    assert code == 1
    frame = pd.read_csv(csv)
    status = frame.set_index(["implementation", "direction", "numel"])["status"]
    assert status["raise-large", "fwd", LARGE] == Status.ERROR
    assert status["raise-large-backward", "fwd+bwd", LARGE] == Status.ERROR
    assert status["raise-large-backward", "fwd", LARGE] == Status.OK  # its forward is fine
    for direction in ("fwd", "fwd+bwd"):
        for numel in (1024, LARGE):
            assert status["torch", direction, numel] == Status.OK
            assert status[core.COPY, direction, numel] == Status.OK
    error = frame[(frame["implementation"] == "raise-large") & (frame["status"] == Status.ERROR)].iloc[0]
    assert "MemoryError: pretends to run out of memory" in error["detail"]
    assert pd.isna(error["speedup_vs_torch"])


def test_sys_exit_in_a_plugin_is_its_error_row_and_the_sweep_goes_on(cheats, tmp_path, capsys):
    """SystemExit from implementation code ends its row, never the run: the other rows and sizes are timed
    and on disk."""
    csv = tmp_path / "bench.csv"
    argv = ["bench", "--impl", "torch", "--impl", "exit-large", "--sizes", f"2^10,{LARGE}", "--direction", "fwd"]
    code = main([*argv, "--rounds", "2", "--csv", str(csv)])
    assert code == 1
    status = pd.read_csv(csv).set_index(["implementation", "numel"])
    assert status.loc[("exit-large", LARGE), "status"] == Status.ERROR
    assert status.loc[("exit-large", LARGE), "detail"] == "SystemExit: 3"
    assert status.loc[("exit-large", 1024), "status"] == Status.OK
    assert status.loc[("torch", LARGE), "status"] == Status.OK
    assert "FAIL exit-large (gelu) float32 fwd 2^18: error: SystemExit: 3" in capsys.readouterr().out


HOSTILE = Path(__file__).with_name("hostile_plugins.py")


def _bench_hostile(tmp_path, *options):
    csv = tmp_path / "bench.csv"
    command = [sys.executable, "-m", "opbench.cli", "bench", "--plugin", str(HOSTILE), "--impl", "torch"]
    command += ["--impl", "clock-cheat", "--direction", "fwd", "--csv", str(csv), *options]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    return result, pd.read_csv(csv).set_index(["implementation", "numel"])


def test_a_plugin_that_patches_the_clocks_is_refused_by_the_witnessing_parent(tmp_path):
    """clock-cheat patches both clocks an in-process timer has (wall and CPU time), but by default plugins are
    timed in a child process, and the parent, which never imported the plugin, saw every block take longer
    than the child reported: the rows fail verification and keep no speedup. torch, timed in the same child,
    is not fooled."""
    result, rows = _bench_hostile(tmp_path, "--sizes", "2^12,2^16")
    assert result.returncode == 1, result.stderr[-2000:]
    for numel in (1 << 12, 1 << 16):
        cheat = rows.loc[("clock-cheat", numel)]
        assert cheat["status"] == Status.FAILED_VERIFICATION, cheat["detail"]
        assert cheat["detail"].startswith(witness.REFUSAL) and cheat["witness"] == core.WITNESSED
        assert pd.isna(cheat["speedup_vs_torch"]) and pd.isna(cheat["time_vs_torch"])
        assert rows.loc[("torch", numel), "status"] == Status.OK
    assert f"FAIL clock-cheat (gelu) float32 fwd 2^12: failed verification: {witness.REFUSAL}" in result.stdout


def test_in_process_plugin_rows_say_they_were_not_witnessed(tmp_path):
    """--in-process gives up the witness: the patched clocks win there (that is what the witness is for), and
    the rows and the notes say the times are unwitnessed."""
    result, rows = _bench_hostile(tmp_path, "--sizes", "2^12", "--in-process")
    assert rows.loc[("clock-cheat", 1 << 12), "witness"] == core.UNWITNESSED
    assert pd.isna(rows.loc[("torch", 1 << 12), "witness"])  # opbench's own code
    assert "unwitnessed: clock-cheat is plugin code timed in the process that imported it" in result.stdout


def test_isolated_bench_children_are_witnessed_too(tmp_path):
    result, rows = _bench_hostile(tmp_path, "--sizes", "2^12", "--isolate")
    assert rows.loc[("clock-cheat", 1 << 12), "detail"].startswith(witness.REFUSAL)
    assert f"FAIL clock-cheat (gelu) float32 fwd 2^12: failed verification: {witness.REFUSAL}" in result.stdout
    assert "unwitnessed" not in result.stdout  # the child's own lines, which could not know, are not shown


WITNESS_CHILD = """
import sys, time
from opbench.timing import witness
for label, slept, reported in (("honest", 0.02, 0.02), ("short", 0.03, 0.003)):
    for _ in range(3):
        witness.begin((label,))
        time.sleep(slept)
        witness.end((label,), reported)
witness.begin(("unfinished",))
"""


def test_the_witness_judges_each_block_by_the_kernels_stamps():
    """A child's honest blocks stand, blocks reported at a tenth of what the parent saw are refused, and a
    block whose end never came is not counted as seen."""
    watcher = witness.Witness()
    subprocess.run([sys.executable, "-c", WITNESS_CHILD], env=watcher.env(), pass_fds=watcher.pass_fds, check=True)
    watcher.close()
    seen = watcher.seen()
    assert 0 <= watcher.mark_cost_s() < witness.SLACK_S
    assert seen[("honest",)].blocks == 3 and seen[("honest",)].problem() is None
    assert seen[("short",)].problem().startswith(f"{witness.REFUSAL} a block take 3")
    assert "3 of 3 blocks" in seen[("short",)].problem()
    assert ("unfinished",) not in seen


def test_rows_the_parent_did_not_see_timed_fail_and_a_refused_baseline_leaves_no_ratios():
    case = dict(op="gelu", dtype="float32", direction="fwd", shape="4096", layout="contiguous", cache="warm", rounds=4)
    frame = pd.DataFrame(
        [
            dict(case, implementation="torch", status=Status.OK, detail=float("nan"), speedup_vs_torch=1.0),
            dict(case, implementation="mine", status=Status.OK, detail=float("nan"), speedup_vs_torch=2.0),
        ]
    ).assign(**{column: 1.0 for column in bench.RATIO_COLUMNS if column != "speedup_vs_torch"})
    honest = witness.Seen(blocks=4)
    seen = {("gelu", "torch", "float32", "fwd", "4096", "contiguous", "warm"): honest}
    amended = bench.witnessed(frame, seen).set_index("implementation")
    assert amended.loc["torch", "status"] == Status.OK and amended.loc["torch", "witness"] == core.WITNESSED
    assert amended.loc["mine", "status"] == Status.FAILED_VERIFICATION
    assert amended.loc["mine", "detail"] == f"{witness.REFUSAL} 0 of the 4 blocks the timing process reported)"
    seen = {("gelu", name, "float32", "fwd", "4096", "contiguous", "warm"): honest for name in ("torch", "mine")}
    seen[("gelu", "torch", "float32", "fwd", "4096", "contiguous", "warm")] = witness.Seen(4, [(0.001, 0.01)] * 4)
    amended = bench.witnessed(frame, seen).set_index("implementation")
    assert amended.loc["mine", "status"] == Status.OK
    assert amended[bench.RATIO_COLUMNS].isna().all().all()


def test_a_blocks_shortfall_is_excused_only_up_to_the_time_its_thread_waited_for_a_cpu():
    """A block the parent saw take 17 ms, reported as 14.5 ms, stands when the kernel says the marking thread
    waited 3 ms on a run queue during it (preempted after a mark), and is refused when it waited none; a
    clock cheat's 1.7 ms is refused in spite of the same wait."""
    seen = {}
    for label, reported, waited in (
        ("preempted", 0.0145, 0.003),
        ("unexplained", 0.0145, 0.0),
        ("cheat", 0.0017, 0.003),
    ):
        watcher = witness.Witness()
        watcher.close()
        for start in (0.0, 1.0):
            watcher._marks += [(start, [[label], None], 5.0), (start + 0.017, [[label], reported], 5.0 + waited)]
        seen[label] = watcher.seen()[(label,)]
    assert seen["preempted"].problem() is None
    assert seen["unexplained"].problem().startswith(f"{witness.REFUSAL} a block take 17 ms")
    assert "2 of 2 blocks" in seen["cheat"].problem()


def test_work_left_running_by_a_plugin_marks_the_others_rows_busy(tmp_path):
    """background-fill fails its checks, but its threads keep working while torch and cpp are timed: their
    rows are marked busy, naming the threads it left, never silently slower."""
    csv = tmp_path / "bench.csv"
    command = [sys.executable, "-m", "opbench.cli", "bench", "--plugin", str(HOSTILE), "--impl", "torch"]
    command += ["--impl", "cpp", "--impl", "background-fill", "--sizes", "2^12", "--direction", "fwd"]
    result = subprocess.run([*command, "--csv", str(csv)], capture_output=True, text=True, timeout=600)
    assert result.returncode == 1, result.stderr[-2000:]
    rows = pd.read_csv(csv).set_index("implementation")
    assert rows.loc["background-fill", "status"] == Status.FAILED_CHECK
    for name in ("torch", "cpp"):
        assert rows.loc[name, "status"] == Status.OK, rows.loc[name, "detail"]
        assert "busy: pass 1: " in rows.loc[name, "detail"]
        assert re.search(r"threads: \d+ left by background-fill[,;)]", rows.loc[name, "detail"]), rows.loc[
            name, "detail"
        ]


def test_busy_is_background_cpu_time_in_the_process_or_other_runnable_tasks():
    seen = dict(threads=("left by x: Thread-1",), steal=0.0, load="0.5")
    assert not quiet.Background(process_cores=0.03, other_tasks=0.0, **seen).busy  # the window's own sampling
    assert quiet.Background(process_cores=0.9, other_tasks=0.0, **seen).busy  # a thread of ours at work
    assert quiet.Background(process_cores=0.03, other_tasks=1.0, **seen).busy  # another process
    threads = ("left by x: Thread-1", "left by x: Thread-2", "MainLoop")
    note = quiet.Background(process_cores=0.9, other_tasks=0.0, **{**seen, "threads": threads}).note()
    assert "(threads: 2 left by x, MainLoop; load 0.5; steal 0%)" in note


def test_clock_disagreement_bounds_the_wall_time_by_the_timing_threads_cpu_time():
    assert engine.clock_disagreement(wall_s=0.010, cpu_s=0.0102) is None  # a busy thread, clocks' resolution
    assert engine.clock_disagreement(wall_s=0.010, cpu_s=0.001) is None  # waiting on a device or other threads
    assert "timer disagrees (the clock says 2 ms, the timing thread used 10 ms" in engine.clock_disagreement(
        0.002, 0.01
    )


def _above_the_limit(numel):
    case = workloads.Case(GELU, "fwd", numel, torch.float32, "cpu")
    fast, slow = [[1e-6] * 4] * 6, [[1e-5] * 4] * 6
    measured = {name: engine.Measured(passes=slow) for name in (*core.YARDSTICKS, "torch")}
    measured["too-fast"] = engine.Measured(passes=fast)
    rows = [bench._row(name, case, m) for name, m in measured.items()]
    return bench.add_comparisons(pd.DataFrame(rows), measured).set_index("implementation")


def test_rows_above_the_bandwidth_limit_fail_verification_and_keep_no_ratio():
    frame = _above_the_limit(1 << 18)  # 2 MiB of copy traffic: the copy is bandwidth-bound
    assert frame.loc["too-fast", "status"] == Status.FAILED_VERIFICATION and frame.loc["too-fast", "above_limit"]
    assert "above the bandwidth limit: moved its bytes at 1000% of out.copy_(x)" in frame.loc["too-fast", "detail"]
    assert frame.loc[["too-fast"], bench.RATIO_COLUMNS].isna().all().all()
    assert frame.loc["torch", "status"] == Status.OK and frame.loc["torch", "time_vs_torch"] == 1.0


def test_rows_above_the_limit_of_a_copy_that_costs_its_call_are_flagged_only():
    frame = _above_the_limit(1 << 12)  # 32 KiB: a call's fixed cost is most of the copy's time
    assert frame.loc["too-fast", "status"] == Status.OK and frame.loc["too-fast", "above_limit"]
    assert frame.loc["too-fast", "time_vs_torch"] == pytest.approx(0.1)


def test_killed_bench_leaves_a_valid_csv_of_finished_passes(tmp_path):
    csv = tmp_path / "bench.csv"
    # Five cases, passes of 10 rounds (about a second per case): the CSV appears when the first case has
    # finished its first pass (each case's rows are saved as its pass ends); the kill lands a second later.
    command = [
        sys.executable,
        "-m",
        "opbench.cli",
        "bench",
        "--impl",
        "torch",
        "--sizes",
        "2^10,2^12,2^14,2^16,2^18",
        "--direction",
        "fwd",
        "--rounds",
        "10",
        "--csv",
        str(csv),
    ]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (csv.exists() and csv.stat().st_size) and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130 and "interrupted" in stderr, stderr[-2000:]
    frame = pd.read_csv(csv)
    cases = frame.groupby("numel")
    assert (frame["status"] == Status.OK).all() and (cases.size() == 3).all()  # torch and both yardsticks per case
    assert 1 <= len(cases) <= 5 and (cases["passes"].nunique() == 1).all()  # whole passes of whole cases
    assert frame["passes"].max() < casetimer.PASSES  # not all of them


@requires_cuda
@pytest.mark.cuda
def test_side_stream_work_fails_verification(cheats):
    case = workloads.Case(GELU, "fwd", 1 << 20, torch.float32, "cuda")
    entries = {"torch": opbench.get("torch"), "side-stream": opbench.get("side-stream")}
    measured = casetimer.measure_case(entries, case, casetimer.Passes(passes=1, rounds=2, block_s=0.002))
    assert measured["side-stream"].status == Status.FAILED_VERIFICATION, measured["side-stream"]
    assert measured["torch"].status == Status.OK


def test_an_implementation_that_keeps_its_outputs_is_flagged_as_leaking(cheats, capsys):
    config = bench.SweepConfig(sizes=[1 << 20], directions=["fwd"], rounds=2)
    frame = bench.sweep([opbench.get("torch"), opbench.get("leaks")], config)
    leaks = frame.set_index("implementation")["leaks"]
    assert leaks["leaks"] and not leaks["torch"]
    row = frame.set_index("implementation").loc["leaks"]
    assert row["retained_bytes_per_call"] >= memory.LEAK_FRACTION * 4 * (
        1 << 20
    )  # resident pages: most of the 4 MiB output
    assert "leak: leaks float32 fwd 2^20 keeps" in "\n".join(render.bench_notes(frame))


def test_a_leak_of_small_outputs_is_caught_and_torch_is_not_flagged(cheats):
    """At 2^4 elements a kept output is 64 bytes: memory_use makes enough calls to see it in the
    resident set, and as many for torch's forward+backward, which a page of noise once flagged."""
    config = bench.SweepConfig(sizes=[16], directions=["fwd", "fwd+bwd"], rounds=2)
    frame = bench.sweep([opbench.get("torch"), opbench.get("leaks")], config)
    leaks = frame.set_index(["implementation", "direction"])["leaks"]
    assert leaks["leaks", "fwd"] and leaks["leaks", "fwd+bwd"]
    assert not leaks["torch", "fwd"] and not leaks["torch", "fwd+bwd"]


def test_a_page_of_resident_set_noise_is_not_a_leak(monkeypatch):
    """The resident set moves by a page between readings for reasons of its own; over the calls
    memory_use makes for a 64-byte output, one page is far below half the output per call (over 20
    calls it was 205 bytes, a false leak)."""
    readings = iter([0, 0, 0, 4096])  # before and after one call, before and after the leak calls
    monkeypatch.setattr(memory, "allocated_bytes", lambda device: next(readings))
    _, retained = memory.memory_use(lambda: None, "cpu", output_bytes=64)
    assert retained < memory.LEAK_FRACTION * 64


@pytest.mark.parametrize("direction", ["fwd", "bwd"])
def test_out_variants_are_verified_like_the_ops(direction):
    """An out= entry must write its result into the tensor it was given: one that returns a fresh
    tensor, or one that writes nothing (the output holds the nan the round began with), fails."""

    def fresh(*args):  # right values, but not in `out`
        return torch.ops.aten.gelu(args[0]) if direction == "fwd" else torch.ops.aten.gelu_backward(args[0], args[1])

    case = workloads.Case(GELU, direction, 4096, torch.float32, "cpu")
    torch_out = opbench.get("torch").forward_out if direction == "fwd" else opbench.get("torch").backward_out
    entries = {
        "torch" + core.OUT_SUFFIX: workloads.IntoOutput(torch_out),
        "fresh": workloads.IntoOutput(fresh),
        "idle": workloads.IntoOutput(lambda *args: args[-1]),
    }
    measured = casetimer.measure_case(entries, case, casetimer.Passes(passes=1, rounds=2, block_s=0.002))
    assert measured["torch" + core.OUT_SUFFIX].status == Status.OK, measured
    assert (
        measured["fresh"].status == Status.FAILED_VERIFICATION
        and "other than the out= tensor" in measured["fresh"].detail
    )
    assert measured["idle"].status == Status.FAILED_VERIFICATION and "is nan" in measured["idle"].detail

"""LeNet-5 training: the model's shape, implementations that do not change training, accuracy, and crash safety."""

import pandas as pd
import pytest
import torch

import opbench
from opbench.cli import main
from opbench.training import stepprofile, train
from opbench.training.model import lenet5
from tests.conftest import LOCAL_MNIST, requires_cuda, requires_mnist


def test_lenet5_is_the_reference_architecture():
    model = lenet5(torch.nn.functional.gelu)
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    layers = [type(layer).__name__ for layer in model]
    assert layers == [
        "Conv2d",
        "Activation",
        "AvgPool2d",
        "Activation",
        "Conv2d",
        "Activation",
        "AvgPool2d",
        "Activation",
        "Flatten",
        "Linear",
        "Activation",
        "Linear",
        "Activation",
        "Linear",
    ]
    assert sum(p.numel() for p in model.parameters()) == 44426


def test_the_gated_lenet5_has_glu_blocks_as_its_hidden_layers():
    """For a gated op the hidden linear layers produce gate and up side by side (2 x 120, 2 x 84)."""
    swiglu = opbench.lookup("torch", op="swiglu")
    model = lenet5(swiglu, "torch", swiglu.op)
    assert [layer.out_features for layer in model if isinstance(layer, torch.nn.Linear)] == [240, 168, 10]
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    hidden = torch.randn(3, 240)
    assert torch.equal(model[10](hidden), torch.nn.functional.silu(hidden[:, :120]) * hidden[:, 120:])
    assert torch.equal(model[1](hidden), torch.nn.functional.silu(hidden))  # convolution sites: up = 1


def config(tmp_path, **overrides):
    settings = dict(loader="device", data_root=str(LOCAL_MNIST), logdir=str(tmp_path / "runs"))
    settings.update(overrides)
    return train.TrainConfig(**settings)


@requires_mnist
def test_implementations_do_not_change_training(tmp_path):
    """Same seed and loader: torch and cpp give the same first-epoch mean loss within 1e-4 relative."""
    losses = {
        name: train.train(opbench.get(name), config(tmp_path, epochs=1, max_batches=150))[0]["train_loss"]
        for name in ("torch", "cpp")
    }
    assert losses["cpp"] == pytest.approx(losses["torch"], rel=1e-4)


@requires_mnist
def test_runs_on_other_batch_subsets_are_other_runs(tmp_path):
    """--max-batches is in the run's key: a 3-batch run does not replace a 5-batch one."""
    csv = tmp_path / "train.csv"
    for batches in (5, 3):
        train.train(opbench.get("torch"), config(tmp_path, epochs=1, max_batches=batches), csv)
    assert sorted(pd.read_csv(csv)["max_batches"]) == [3, 5]


@pytest.mark.slow
@requires_mnist
def test_cpp_reaches_the_reference_accuracy_in_10_epochs(tmp_path):
    csv = tmp_path / "train.csv"
    rows = train.train(opbench.get("cpp"), config(tmp_path), csv)
    assert len(rows) == 10
    assert rows[-1]["test_accuracy"] >= 98.5
    frame = pd.read_csv(csv)
    assert list(frame["epoch"]) == list(range(1, 11))
    for column in ("train_loss", "epoch_s", "samples_per_s", "torch_version", "git_sha", "timestamp", "seed", "loader"):
        assert frame[column].notna().all(), column
    assert any((tmp_path / "runs" / "gelu-cpp-device-cpu").glob("events.out.tfevents.*"))


@requires_mnist
@pytest.mark.parametrize(
    "op, impl",
    [("gelu", i.name) for i in opbench.implementations("cpu", op="gelu") if i.name != "cpp"]
    + [(op, "cpp") for op in ("gelu-tanh", "silu")],
)
def test_every_cpu_implementation_learns_in_one_epoch(tmp_path, op, impl):
    """Every GELU implementation, and the fused kernels of the other ops (their torch, python and compiled
    share code paths already trained here)."""
    implementation = opbench.lookup(impl, op=op)
    if implementation.unavailable_reason("cpu"):
        pytest.skip(implementation.unavailable_reason("cpu"))
    rows = train.train(implementation, config(tmp_path, epochs=1))
    assert rows[0]["test_accuracy"] >= 96.0


@requires_mnist
def test_dataloader_pipeline_runs(tmp_path):
    rows = train.train(opbench.get("torch"), config(tmp_path, loader="dataloader", epochs=1, max_batches=50))
    assert rows[0]["samples"] == 50 * 64


@requires_mnist
def test_crash_mid_run_keeps_finished_epochs(tmp_path, scratch_registry):
    calls = {"n": 0}
    calls_per_epoch = (20 + 10) * 7  # 20 training batches and 10 test batches, 7 activations each

    def flaky(x):
        calls["n"] += 1
        if calls["n"] > calls_per_epoch + 30:
            raise KeyboardInterrupt  # as Ctrl-C in the second epoch
        return torch.nn.functional.gelu(x)

    scratch_registry.register("flaky", flaky)
    csv = tmp_path / "train.csv"
    with pytest.raises(KeyboardInterrupt):
        train.train(opbench.get("flaky"), config(tmp_path, epochs=3, max_batches=20), csv)
    frame = pd.read_csv(csv)
    assert list(frame["epoch"]) == [1]
    assert any((tmp_path / "runs" / "gelu-flaky-device-cpu").glob("events.out.tfevents.*"))


@requires_mnist
def test_cli_exits_1_below_min_accuracy(tmp_path, capsys):
    status = main(
        [
            "train",
            "--impl",
            "cpp",
            "--epochs",
            "1",
            "--loader",
            "device",
            "--data-root",
            str(LOCAL_MNIST),
            "--logdir",
            str(tmp_path / "runs"),
            "--min-accuracy",
            "99.9",
        ]
    )
    assert status == 1
    assert "FAIL cpp (gelu) [device] ended at" in capsys.readouterr().out


def test_cli_missing_data_is_a_message_not_a_traceback(monkeypatch, capsys):
    from opbench.training import data

    def missing(*args, **kwargs):
        raise data.DataError("MNIST not found; looked in:\n  local folder: no MNIST files in data/MNIST/raw")

    monkeypatch.setattr(data, "load_tensors", missing)
    assert main(["train", "--impl", "torch", "--epochs", "1"]) == 2
    assert "opbench: MNIST not found; looked in:" in capsys.readouterr().err


@requires_mnist
def test_a_rerun_replaces_the_whole_run_never_some_epochs(tmp_path, scratch_registry):
    state = {"calls": 0, "crash_after": None}

    def flaky(x):
        state["calls"] += 1
        if state["crash_after"] is not None and state["calls"] > state["crash_after"]:
            raise RuntimeError("crashed in the second epoch")
        return torch.nn.functional.gelu(x)

    scratch_registry.register("flaky", flaky)
    csv = tmp_path / "train.csv"
    train.train(opbench.get("flaky"), config(tmp_path, epochs=2, max_batches=5), csv)
    assert list(pd.read_csv(csv)["epoch"]) == [1, 2]
    state.update(calls=0, crash_after=(5 + 10) * 7 + 5)  # the same run again, crashing in its second epoch
    with pytest.raises(RuntimeError):
        train.train(opbench.get("flaky"), config(tmp_path, epochs=2, max_batches=5), csv)
    assert list(pd.read_csv(csv)["epoch"]) == [1]  # the old epoch 2 is not spliced onto the new epoch 1
    events = list((tmp_path / "runs" / "gelu-flaky-device-cpu").glob("events.out.tfevents.*"))
    assert len(events) == 1  # the re-run's TensorBoard folder started clean


@pytest.mark.slow
@requires_mnist
def test_train_failures_exit_1_and_others_still_train(tmp_path, scratch_registry, capsys):
    scratch_registry.register(
        "nan-large", lambda x: torch.where(torch.tensor(x.numel() > 10**5), torch.nan, torch.nn.functional.gelu(x))
    )
    scratch_registry.register("wrong-sign", lambda x: -torch.nn.functional.gelu(x))
    status = main(
        [
            "train",
            "--impl",
            "nan-large",
            "--impl",
            "wrong-sign",
            "--impl",
            "torch",
            "--epochs",
            "1",
            "--loader",
            "device",
            "--data-root",
            str(LOCAL_MNIST),
            "--logdir",
            str(tmp_path / "runs"),
            "--csv",
            str(tmp_path / "train.csv"),
        ]
    )
    out = capsys.readouterr().out
    assert status == 1
    assert "FAIL nan-large (gelu) [device]: error: NonFiniteLoss: nan-large: training loss became nan at step 1" in out
    assert "FAIL wrong-sign (gelu): not trained: failed check: forward: forward error" in out
    assert "torch (gelu) [device] seed 0: final test accuracy" in out
    frame = pd.read_csv(tmp_path / "train.csv").set_index("implementation")
    assert frame.loc["nan-large", "status"] == "error" and "NonFiniteLoss" in frame.loc["nan-large", "detail"]
    assert frame.loc["wrong-sign", "status"] == "failed check"
    assert frame.loc["torch", "status"] == "ok"


@requires_mnist
def test_step_profile_splits_the_step_and_attributes_the_activation(tmp_path, capfd):
    csv = tmp_path / "profile.csv"
    assert (
        main(
            [
                "profile",
                "--impl",
                "torch",
                "--impl",
                "python",
                "--impl",
                "cpp",
                "--steps",
                "5",
                "--warmup",
                "2",
                "--rounds",
                "3",
                "--data-root",
                str(LOCAL_MNIST),
                "--csv",
                str(csv),
            ]
        )
        == 0
    )
    frame = pd.read_csv(csv).set_index("implementation")
    assert (frame["rounds"] == 3).all()
    for name in ("torch", "python", "cpp"):  # a Python autograd.Function, ATen's node, a C++ autograd node
        row = frame.loc[name]
        assert row["activation_forward_s"] > 0 and row["activation_backward_s"] > 0, row
        assert 0 < row["activation_share"] < 1
        parts = sum(
            row[f"{part.replace(' ', '_')}_s"]
            for part in (
                "activation forward",
                "other forward",
                "activation backward",
                "other backward",
                "optimizer",
                "rest of step",
            )
        )
        assert parts == pytest.approx(row["mean_step_s"], rel=1e-6)  # the parts add up to the step
    assert frame.loc["torch", "step_vs_baseline"] == 1.0
    out, err = capfd.readouterr()  # the profiler's own C++ logging is in a log file the command names, not here
    assert "activation share" in out
    assert "profiler_start" not in out + err and "SyncActivityProfilerHandler" not in out + err
    if "C++ libraries' own logging in " in out:
        log = out.split("C++ libraries' own logging in ")[1].split()[0]
        assert "profiler_start" in open(log).read()


class FakeStepper:
    device = "cpu"

    def __init__(self, fail_at=None, loss=1.0):
        self.calls, self.fail_at, self.loss = 0, fail_at, loss

    def __call__(self):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("boom")
        return torch.tensor(self.loss)


def test_interleaved_step_times_keep_timing_the_others_when_one_raises_or_diverges():
    steppers = {"good": FakeStepper(), "bad": FakeStepper(fail_at=7), "diverged": FakeStepper(loss=float("nan"))}
    config = stepprofile.ProfileConfig(rounds=4, steps_per_round=5)
    times, problems = stepprofile.interleaved_step_times(steppers, config)
    assert list(times) == ["good"] and len(times["good"]) == 4
    assert problems == {
        "bad": "error: RuntimeError: boom",
        "diverged": "failed verification: the training loss became nan",
    }
    # each block follows one untimed step; a failing one leaves the rotation
    assert steppers["good"].calls == 4 * (1 + 5) and steppers["bad"].calls == 7 and steppers["diverged"].calls == 6


@requires_mnist
def test_the_cpu_step_is_not_graphed_and_says_nothing_about_it(tmp_path):
    row = train.train(opbench.get("torch"), config(tmp_path, epochs=1, max_batches=5))[0]
    assert row["graphed"] is False and row["detail"] == ""


@requires_cuda
@requires_mnist
@pytest.mark.cuda
def test_a_graphed_epoch_trains_as_the_eager_epoch_does(tmp_path):
    """A full epoch: warm-up steps, capture, replays, and the partial last batch run eagerly between them."""
    eager, graphed = (
        train.train(opbench.get("torch", "cuda"), config(tmp_path, device="cuda", epochs=1, graph=graph))[0]
        for graph in (False, True)
    )
    assert graphed["graphed"] is True and eager["graphed"] is False
    assert graphed["samples"] == eager["samples"] == 60000
    assert graphed["train_loss"] == pytest.approx(eager["train_loss"], rel=2e-2)  # cuDNN's backward is not bitwise
    assert graphed["test_accuracy"] > 97.0


@requires_cuda
@requires_mnist
@pytest.mark.cuda
def test_an_implementation_that_cannot_be_captured_trains_ungraphed_and_says_why(tmp_path, scratch_registry):
    def synchronizing(x):
        if float(x.abs().max()) > 1e9:  # reads a value on the host: not allowed while capturing
            raise AssertionError("unreachable")
        return torch.nn.functional.gelu(x)

    scratch_registry.register("synchronizing", synchronizing, devices=("cpu", "cuda"))
    row = train.train(
        opbench.get("synchronizing", "cuda"), config(tmp_path, device="cuda", epochs=1, max_batches=10, graph=True)
    )[0]
    assert row["graphed"] is False and row["detail"].startswith("trained ungraphed: capture failed")
    assert row["samples"] == 10 * 64

"""Ops as specs: a fourth op declared in a plugin, from its reference alone, is checked, timed, trained and reported
with no edit anywhere else."""

import dataclasses

import pandas as pd
import pytest
import torch

import opbench
from opbench import pipeline
from opbench.cli import main
from opbench.reporting import report, results
from opbench.timing import bench
from opbench.training import train
from tests.conftest import LOCAL_MNIST, requires_mnist

# Mish, x tanh(softplus(x)): its float64 reference with explicit limits, and F.mish as its baseline.
MISH = """
import torch
import torch.nn.functional as F

import opbench


def mish(x):
    t = torch.tanh(F.softplus(x))
    return torch.where(t == 0, torch.zeros_like(x), x * t)  # x -> -inf: 0, not -inf * 0


def mish_derivative(x):
    t = torch.tanh(F.softplus(x))
    slope = (1 - t * t) * torch.sigmoid(x)
    return t + torch.where(slope == 0, torch.zeros_like(x), x * slope)


opbench.define_op(opbench.Op("mish", "x tanh(softplus(x))", function=mish, derivative=mish_derivative, baseline=F.mish,
                             baseline_label="F.mish"))
"""


@pytest.fixture
def mish(tmp_path, scratch_registry):
    plugin = tmp_path / "mish.py"
    plugin.write_text(MISH)
    opbench.load_plugin(str(plugin))
    return plugin


def test_a_plugin_op_gets_its_torch_implementation_and_is_listed(mish, capsys):
    assert [impl.name for impl in opbench.implementations(op="mish")] == ["torch"]
    assert opbench.get("torch", op="mish").op.description == "x tanh(softplus(x))"
    assert main(["list"]) == 0  # the plugin is loaded in this process already
    out = capsys.readouterr().out
    assert "mish" in out and "F.mish" in out


def test_a_plugin_op_is_checked_timed_and_reported(mish, tmp_path):
    impls = opbench.implementations("cpu", op="mish")
    checked = pipeline.check(impls, "cpu", [torch.float32, torch.float64], csv=tmp_path / "check.csv")
    assert checked.failures == [] and set(checked.frame["op"]) == {"mish"}
    assert set(checked.frame["check"]) >= {"forward", "backward", "contract", "edges", "limits", "layouts", "gradcheck"}
    config = bench.SweepConfig(sizes=[1024], directions=["fwd", "fwd+bwd"], rounds=2)
    swept = pipeline.sweep(impls, config, csv=tmp_path / "bench.csv")
    assert swept.failures == []
    rows = results.load(tmp_path / "bench.csv").set_index(["implementation", "direction"])
    assert rows.loc[("torch", "fwd"), "status"] == "ok" and rows.loc[("torch", "fwd"), "op"] == "mish"
    text = report.write(tmp_path, tmp_path / "report", "test").read_text()
    assert "## mish: x tanh(softplus(x))" in text and "(plots/mish_speedup.png)" in text


def test_wrong_implementations_of_a_plugin_op_fail_its_checks(mish):
    opbench.register("off-by-one", lambda x: torch.nn.functional.mish(x) + 1, op="mish")
    opbench.register("relu", torch.relu, op="mish")
    for name in ("off-by-one", "relu"):
        failed = pipeline.check([opbench.get(name, op="mish")], "cpu", [torch.float32]).failures
        assert any("forward" in line for line in failed), failed


def test_csvs_from_before_the_op_column_hold_gelu_rows(tmp_path):
    old = tmp_path / "bench.csv"
    pd.DataFrame([dict(kind="bench", implementation="torch", direction="fwd", numel=16)]).to_csv(old, index=False)
    assert list(results.load(old)["op"]) == ["gelu"]


@requires_mnist
def test_lenet5_trains_with_a_plugin_op_from_the_command_line(mish, tmp_path, capsys):
    csv = tmp_path / "train.csv"
    assert (
        main(
            [
                "train",
                "--op",
                "mish",
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
                str(csv),
            ]
        )
        == 0
    )
    row = pd.read_csv(csv).iloc[-1]
    assert (row["op"], row["implementation"]) == ("mish", "torch") and row["test_accuracy"] > 96
    assert any((tmp_path / "runs" / "mish-torch-device-cpu").iterdir())
    assert "torch (mish) [device] seed 0: final test accuracy" in capsys.readouterr().out


def test_every_command_takes_op_all(capsys):
    assert main(["check", "--op", "all", "--impl", "torch", "--dtype", "float32"]) == 0
    out = capsys.readouterr().out
    assert all(f"{op}:\n" in out for op in ("gelu", "gelu-tanh", "silu"))


# ReGLU, relu(gate) * up, declared from its activation's reference alone (opbench.gated).
REGLU = """
import torch

import opbench

opbench.define_op(opbench.gated("reglu", "relu(gate) * up", torch.relu, lambda x: (x > 0).to(x.dtype)))
"""


@requires_mnist
def test_a_gated_plugin_op_is_checked_timed_trained_and_reported(tmp_path, scratch_registry):
    plugin = tmp_path / "reglu.py"
    plugin.write_text(REGLU)
    opbench.load_plugin(str(plugin))
    impls = opbench.implementations("cpu", op="reglu")
    assert opbench.get_op("reglu").inputs == ("gate", "up")
    checked = pipeline.check(impls, "cpu", [torch.float32, torch.float64], csv=tmp_path / "check.csv")
    assert checked.failures == [], checked.failures
    config = bench.SweepConfig(shapes=[(64, 256)], layouts=("contiguous", "chunked"), directions=["fwd", "fwd+bwd"])
    swept = pipeline.sweep(impls, dataclasses.replace(config, rounds=2), csv=tmp_path / "bench.csv")
    assert swept.failures == [], swept.failures
    rows = results.load(tmp_path / "bench.csv").set_index(["implementation", "direction", "layout"])
    assert rows.loc[("torch", "fwd+bwd", "chunked"), "status"] == "ok"
    assert rows.loc[("torch", "fwd", "chunked"), "bytes"] == 3 * 64 * 256 * 4  # reads gate and up, writes y
    trained = pipeline.train(
        impls, [train.TrainConfig(epochs=1, max_batches=30, loader="device", data_root=str(LOCAL_MNIST))]
    )
    assert trained.failures == [] and set(trained.frame["op"]) == {"reglu"}
    text = report.write(tmp_path, tmp_path / "report", "test").read_text()
    assert "## reglu: relu(gate) * up" in text

"""The checker: tolerances, comparisons, and proof that it fails deliberately wrong implementations."""

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import opbench
from opbench.correctness import check, tolerance
from opbench.spec import activations, inputs, reference
from opbench.spec.devices import FLOAT_DTYPES

WRONG_IMPLS = Path(__file__).with_name("wrong_impls.py")

# Each wrong implementation, the check that must catch it, and words its failure message must contain.
EXPECTED_FAILURES = {
    "wrong-tail": ("forward", "forward error"),
    "wrong-gradient": ("backward", "{gradient} error"),  # a gated op names its input: "gradient of gate"
    "wrong-dtype": ("forward", "dtype torch.float64, expected torch.float32"),
    "wrong-nan-negative": ("forward", "forward error inf"),
}


def test_every_dtype_has_a_tolerance():
    assert set(tolerance.TOLERANCES) == set(FLOAT_DTYPES)


def test_compare_passes_exact_and_fails_beyond_tolerance():
    x = inputs.random_input(1000, torch.float32, scale=3.0)
    expected = activations.GELU.expected(x)
    assert tolerance.agreement(expected.float(), expected, x, torch.float32).passed
    off = expected.clone()
    off[7] += 1e-4
    result = tolerance.agreement(off.float(), expected, x, torch.float32)
    assert not result.passed
    assert result.worst_input == x[7].item()
    assert result.max_abs_error == pytest.approx(1e-4, rel=1e-2)


def test_compare_treats_nan_as_infinitely_wrong():
    x = torch.ones(3)
    actual = torch.tensor([reference.gelu(torch.tensor(1.0)).item(), math.nan, 0.0])
    result = tolerance.agreement(actual, activations.GELU.expected(x), x, torch.float32)
    assert not result.passed and result.max_abs_error == math.inf


def test_the_tolerance_test_names_the_first_wrong_element_and_leaves_the_output_alone():
    """error_and_allowed works in place for speed (verified timing calls it after every block): on a
    copy, never on the implementation's output, even one already in float64."""
    expected = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64)
    actual = torch.tensor([1.0, 2.0, math.nan, 5.0], dtype=torch.float64)
    assert tolerance.first_beyond(*tolerance.error_and_allowed(actual, expected, torch.float64)) == 2
    assert actual[0] == 1.0 and math.isnan(actual[2]) and actual[3] == 5.0
    assert tolerance.first_beyond(*tolerance.error_and_allowed(expected, expected, torch.float64)) == -1
    # A gradient's atol scales with |grad| per element: 1e-6 off is within 2e-6 * 1 but not 2e-6 * 0.1.
    off = torch.tensor([0.5, 0.5]) + 1e-6
    scale = torch.tensor([1.0, 0.1])
    assert (
        tolerance.first_beyond(
            *tolerance.error_and_allowed(off, torch.tensor([0.5, 0.5], dtype=torch.float64), torch.float32, scale)
        )
        == 1
    )


@pytest.fixture
def wrong_impls(scratch_registry):
    opbench.load_plugin(str(WRONG_IMPLS))
    return scratch_registry


@pytest.mark.parametrize("op", [op.name for op in activations.BUILT_IN])
@pytest.mark.parametrize("name", EXPECTED_FAILURES)
def test_checker_fails_each_wrong_implementation_of_each_op(wrong_impls, name, op):
    failing_check, words = EXPECTED_FAILURES[name]
    rows = check.run_checks(opbench.get(name, op=op), "cpu", [torch.float32])
    failures = {row.check: row.detail for row in check.failed(rows)}
    assert failing_check in failures, rows
    assert words.format(gradient=check.gradient_name(opbench.get_op(op), 0)) in failures[failing_check]


def test_cli_check_exits_1_and_names_the_problem():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "opbench.cli",
            "check",
            "--plugin",
            str(WRONG_IMPLS),
            "--impl",
            "wrong-dtype",
            "--impl",
            "wrong-tail",
            "--dtype",
            "float32",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL wrong-dtype (gelu) float32 forward: AssertionError: output has dtype torch.float64" in result.stdout
    assert "FAIL wrong-tail (gelu) float32 forward: forward error" in result.stdout
    silu = subprocess.run(
        [
            sys.executable,
            "-m",
            "opbench.cli",
            "check",
            "--plugin",
            str(WRONG_IMPLS),
            "--op",
            "silu",
            "--impl",
            "wrong-gradient",
            "--dtype",
            "float32",
        ],
        capture_output=True,
        text=True,
    )
    assert silu.returncode == 1 and "FAIL wrong-gradient (silu) float32 backward: gradient error" in silu.stdout


def test_limits_report_deviations_and_fail_only_when_strict(wrong_impls):
    # F.gelu returns nan at -inf (measured on CPU in every dtype); the check names it.
    rows = check.run_checks(opbench.get("torch"), "cpu", [torch.float32], checks=("limits",))
    assert rows[0].status == "deviating"
    assert "f(-inf) = nan, expected 0.0" in rows[0].detail
    assert check.failed(rows) == []
    assert check.failed(rows, strict=True) == rows


def test_unavailable_implementation_is_a_row_not_a_crash(scratch_registry):
    def broken_setup():
        raise RuntimeError("C++ build failed: gelu.cpp:1: error: expected ';'")

    scratch_registry.register("broken", lambda x: x, description="never builds", setup=broken_setup)
    rows = check.run_checks(opbench.lookup("broken"), "cpu")
    assert [(r.status, r.detail) for r in rows] == [
        ("unavailable", "C++ build failed: gelu.cpp:1: error: expected ';'")
    ]
    assert check.failed(rows) == []

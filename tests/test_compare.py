"""`opbench compare`: a deliberately slowed implementation is a significant regression; the same samples are not;
machines are not mixed unless asked."""

import numpy as np
import pandas as pd
import pytest

from opbench import core
from opbench.cli import main
from opbench.reporting import results
from opbench.timing import stats

HONEST = "import opbench, torch.nn.functional as F\nopbench.register('mine', lambda x: F.gelu(x))\n"
TWICE = "import opbench, torch.nn.functional as F\nopbench.register('mine', lambda x: (F.gelu(x), F.gelu(x))[1])\n"


def _bench(tmp_path, name, plugin_source):
    plugin = tmp_path / f"{name}.py"
    plugin.write_text(plugin_source)
    csv = tmp_path / f"{name}.csv"
    assert (
        main(
            [
                "bench",
                "--plugin",
                str(plugin),
                "--impl",
                "mine",
                "--sizes",
                "2^16",
                "--direction",
                "fwd",
                "--passes",
                "10",
                "--rounds",
                "2",
                "--csv",
                str(csv),
            ]
        )
        == 0
    )  # in a witnessed child process: this one never imports the plugin
    return csv


def test_work_done_twice_is_a_significant_regression(scratch_registry, tmp_path, capsys):
    base, new = _bench(tmp_path, "base", HONEST), _bench(tmp_path, "new", TWICE)
    capsys.readouterr()
    assert main(["compare", str(base), str(new), "--fail-above", "5"]) == 1
    out = capsys.readouterr().out
    assert "FAIL mine (gelu):" in out and "slower" in out
    assert main(["compare", str(base), str(new)]) == 0  # without the gate it only reports


def _bench_frame(samples, device_name="cpu A", torch_version="2.14.1"):
    return pd.DataFrame(
        [
            dict(
                implementation="mine",
                device="cpu",
                dtype="float32",
                direction="fwd",
                numel=1024,
                status="ok",
                samples_s=";".join(f"{s:.6g}" for s in samples),
                device_name=device_name,
                cpu_model=device_name,
                threads=2,
                torch_version=torch_version,
            )
        ]
    )


def test_samples_from_one_distribution_show_no_significant_change(tmp_path, capsys):
    rng = np.random.default_rng(0)
    _bench_frame(1e-3 * (1 + 0.02 * rng.standard_normal(20))).to_csv(tmp_path / "a.csv", index=False)
    _bench_frame(1e-3 * (1 + 0.02 * rng.standard_normal(20))).to_csv(tmp_path / "b.csv", index=False)
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--fail-above", "5"]) == 0
    assert "no significant change" in capsys.readouterr().out


def test_two_runs_differing_as_passes_do_are_no_significant_change(tmp_path, capsys):
    # Pass levels two steps apart, rounds within a pass 0.1% apart: as two runs of the same code on a
    # machine whose state moves between passes. The passes' medians show no significant change; the
    # same values pooled as independent rounds would call it one.
    def passes(levels):
        return [[level * (1 + 0.001 * k) for k in range(8)] for level in levels]

    base, new = passes([1.00, 1.01, 1.02, 1.03, 1.04, 1.05]), passes([1.02, 1.03, 1.04, 1.05, 1.06, 1.07])
    assert stats.change(stats.units(base), stats.units(new)).p_value >= stats.ALPHA
    assert stats.change([v for p in base for v in p], [v for p in new for v in p]).p_value < stats.ALPHA
    for name, measured in (("a", base), ("b", new)):
        _bench_frame([]).assign(samples_s=results.samples_text([[1e-3 * v for v in p] for p in measured])).to_csv(
            tmp_path / f"{name}.csv", index=False
        )
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--fail-above", "1"]) == 0
    assert "no significant change" in capsys.readouterr().out


def test_significance_is_adjusted_over_the_rows_compared(tmp_path, capsys):
    assert stats.holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])  # x3, x1 (kept monotone), x2
    # 25 rows of identical code give one raw p below 0.05 about every comparison; one row at p = 0.043 among
    # them is no evidence of anything.
    assert stats.holm([0.043] + [0.5] * 24)[0] > stats.ALPHA
    # A table too large for its unit counts: 6 vs 6 passes cannot go below p = 0.0022, and 30 rows
    # need 0.05 / 30. The comparison says it cannot see, rather than that nothing changed.
    frames = [
        pd.concat([_bench_frame(level * (1 + 0.01 * np.arange(6))).assign(numel=1024 * (k + 1)) for k in range(30)])
        for level in (1e-3, 2e-3)
    ]
    for name, frame in zip("ab", frames):
        frame.to_csv(tmp_path / f"{name}.csv", index=False)
    assert stats.smallest_p(6, 6) == pytest.approx(2 / 924)
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--fail-above", "5"]) == 0
    assert "no row can be significant: 30 rows" in capsys.readouterr().out


def test_other_machines_are_compared_only_when_asked(tmp_path, capsys):
    _bench_frame([1e-3] * 10).to_csv(tmp_path / "a.csv", index=False)
    _bench_frame([2e-3] * 10, device_name="cpu B").to_csv(tmp_path / "b.csv", index=False)
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--fail-above", "5"]) == 0
    assert "measured on different ones: --across-machines" in capsys.readouterr().out
    assert (
        main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "b.csv"), "--fail-above", "5", "--across-machines"])
        == 1
    )
    assert "(across machines" in capsys.readouterr().out


def test_median_interval_uses_order_statistics():
    interval = stats.median_interval(range(1, 21))  # 20 samples: x_(6) and x_(15), coverage 95.9%
    assert (interval.low, interval.median, interval.high) == (6, 10.5, 15)
    assert stats.median_interval([3.0, 1.0, 2.0]) == stats.Interval(2.0, 1.0, 3.0)  # too few: the full range
    ratio = stats.paired_ratio([[2.0] * 10], [[1.0] * 10])
    assert ratio.median == ratio.low == ratio.high == 2.0


def test_passes_not_rounds_are_the_units_of_an_interval():
    assert stats.units([[3.0, 1.0, 2.0]]) == [3.0, 1.0, 2.0]  # one pass: its rounds stand in
    assert stats.units([[1.0, 2.0, 9.0], [4.0, float("nan"), 6.0]]) == [2.0, 5.0]
    # Six passes whose rounds agree closely within each pass and whose levels differ: a pass's state
    # (its buffers, the host that minute) moves all its rounds together. Pooled rounds would give an
    # interval far narrower than the spread of the passes; the pass medians span it.
    levels = [0.61, 0.69, 0.63, 0.74, 0.61, 0.71]
    passes = [[level * (1 + 0.001 * k) for k in range(4)] for level in levels]
    pooled = stats.median_interval([v for p in passes for v in p])
    by_pass = stats.interval(passes)
    assert pooled.high - pooled.low < 0.1 and by_pass.low < 0.612 and by_pass.high > 0.74
    # Ratios pair rounds within each pass, never across passes.
    assert stats.round_ratios([[2.0, 4.0], [9.0]], [[1.0, 2.0], [3.0]]) == [[2.0, 2.0], [3.0]]


def test_compare_refuses_a_csv_of_another_kind(tmp_path, capsys):
    _bench_frame([1e-3] * 5).to_csv(tmp_path / "a.csv", index=False)
    pd.DataFrame([dict(implementation="mine", check="forward", status="pass")]).to_csv(tmp_path / "c.csv", index=False)
    assert main(["compare", str(tmp_path / "a.csv"), str(tmp_path / "c.csv")]) == 2
    assert "is a bench CSV but" in capsys.readouterr().err


@pytest.mark.parametrize("shift", [1.0, 1.5])
def test_change_interval_contains_the_true_ratio(shift):
    rng = np.random.default_rng(1)
    base = 1 + 0.01 * rng.standard_normal(30)
    change = stats.change(base, shift * (1 + 0.01 * rng.standard_normal(30)))
    assert change.ratio.low <= shift <= change.ratio.high
    assert (change.p_value < stats.ALPHA) == (shift != 1.0)


def test_relative_compare_cancels_drift_that_moves_every_implementation(tmp_path, capsys):
    """New run: the machine is 20% slower for everyone. In absolute times 'mine' got slower; against
    torch in the same rounds it did not. A real slowdown of 'mine' alone still fails the gate."""
    rng = np.random.default_rng(1)
    noise = lambda: 1 + 0.01 * rng.standard_normal(20)  # noqa: E731

    def frame(torch_scale, mine_scale):
        rows = [
            _bench_frame(1e-3 * torch_scale * noise()).assign(implementation="torch"),
            _bench_frame(2e-3 * mine_scale * noise()),
        ]
        return pd.concat(rows, ignore_index=True)

    frame(1.0, 1.0).to_csv(tmp_path / "base.csv", index=False)
    frame(1.2, 1.2).to_csv(tmp_path / "drift.csv", index=False)
    frame(1.0, 1.2).to_csv(tmp_path / "slower.csv", index=False)
    base = str(tmp_path / "base.csv")
    assert main(["compare", base, str(tmp_path / "drift.csv"), "--fail-above", "5"]) == 1
    assert main(["compare", base, str(tmp_path / "drift.csv"), "--fail-above", "5", "--relative"]) == 0
    assert "vs torch in the same rounds" in capsys.readouterr().out
    assert main(["compare", base, str(tmp_path / "slower.csv"), "--fail-above", "5", "--relative"]) == 1


@pytest.mark.parametrize("reference", [core.COPY, "torch"])
def test_a_reference_that_moved_is_reported_as_the_machine_not_failed(tmp_path, capsys, reference):
    """A reference 30% slower in the new run (the copy yardstick, or torch, whose code is the same in
    both): the machine changed. The gate judges the implementations under review only, and the table
    says the machine changed, so that its other changes are read with care."""
    rng = np.random.default_rng(2)
    noise = lambda: 1 + 0.01 * rng.standard_normal(20)  # noqa: E731
    for name, scale in (("base", 1.0), ("new", 1.3)):
        pd.concat(
            [_bench_frame(1e-3 * noise()), _bench_frame(1e-4 * scale * noise()).assign(implementation=reference)],
            ignore_index=True,
        ).to_csv(tmp_path / f"{name}.csv", index=False)
    assert main(["compare", str(tmp_path / "base.csv"), str(tmp_path / "new.csv"), "--fail-above", "5"]) == 0
    out = capsys.readouterr().out
    assert "the machine changed between the runs" in out and "1 of 1 rows (+30%" in out
    assert main(["compare", str(tmp_path / "new.csv"), str(tmp_path / "base.csv"), "--fail-above", "5"]) == 0

"""Validation at the door: every bad option value or plugin gets one line naming it and exit 2, before any work."""

import pytest

from opbench.cli import main

BAD = [
    (["bench", "--sizes", "foo"], "argument --sizes: 'foo' is not a size"),
    (["bench", "--sizes", "2^"], "argument --sizes: '2^' is not a size"),
    (["bench", "--sizes", "-1"], "argument --sizes: -1 is not a positive number of elements"),
    (["bench", "--sizes", "0"], "argument --sizes: 0 is not a positive number of elements"),
    (["bench", "--sizes", "2^40"], "--sizes 2^40: needs about"),
    (["check", "--sizes", "2^40"], "--sizes 2^40: needs about"),
    (["bench", "--rounds", "0"], "argument --rounds: 0 is not at least 1"),
    (["bench", "--passes", "5"], "--passes 5: at least 6"),
    (["bench", "--max-passes", "50"], "--max-passes: only with --target-width"),
    (["bench", "--target-width", "5", "--passes", "20", "--max-passes", "10"], "--max-passes 10: below --passes 20"),
    (["bench", "--target-width", "-5"], "argument --target-width: -5 is not a finite number above 0"),
    (["bench", "--direction", "up"], "--direction up: unknown up"),
    (["train", "--epochs", "0"], "argument --epochs: 0 is not at least 1"),
    (["train", "--epochs", "-1"], "argument --epochs: -1 is not at least 1"),
    (["train", "--batch-size", "0"], "argument --batch-size: 0 is not at least 1"),
    (["train", "--lr", "-1"], "argument --lr: -1 is not a finite number above 0"),
    (["train", "--lr", "inf"], "argument --lr: inf is not a finite number above 0"),
    (["train", "--min-accuracy", "101"], "argument --min-accuracy: 101 is not a percentage"),
    (["train", "--seeds", "1,1"], "argument --seeds: 1,1 must list distinct seeds"),
    (["train", "--seeds", "x"], "argument --seeds: 'x' is not a comma-separated list"),
    (["train", "--graph"], "--graph needs --device cuda"),
    (["bench", "--outputs", "preallocated"], "--outputs preallocated: out= variants time fwd and bwd"),
    (["check", "--impl", "nope"], "--impl nope: no implementation of that name"),
    (["check", "--op", "swish"], "--op swish: no op of that name; defined: gelu, gelu-tanh, silu"),
    (
        ["bench", "--op", "gelu-tanh", "--impl", "cpp-composite"],
        "--impl cpp-composite: no implementation of that name for --op gelu-tanh",
    ),
    # /proc refuses new files even to root, who may write anywhere else.
    (["bench", "--csv", "/proc/opbench/bench.csv"], "argument --csv: /proc/opbench is not a writable folder"),
    (["check", "--csv", "/proc/opbench.csv"], "argument --csv: /proc is not a writable folder"),
    (["train", "--logdir", "/proc/opbench"], "argument --logdir: /proc/opbench is not a writable folder"),
    (["report", "--out", "/proc/opbench"], "argument --out: /proc/opbench is not a writable folder"),
    (["compare", "a.csv", "b.csv", "--fail-above", "x"], "argument --fail-above: 'x' is not a number"),
]


def _run(argv):
    try:
        return main(argv)
    except SystemExit as exit:  # argparse's own exit, through our one-line Parser.error
        return exit.code


@pytest.mark.parametrize("argv, words", BAD, ids=[" ".join(argv) for argv, _ in BAD])
def test_bad_options_get_one_line_and_exit_2(argv, words, capsys):
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err


UNAVAILABLE = [
    (["check", "--impl", "cuda"], "--impl cuda (--op gelu): unavailable on --device cpu: runs on cuda only"),
    (
        ["bench", "--op", "silu", "--impl", "triton"],
        "--impl triton (--op silu): unavailable on --device cpu: runs on cuda only",
    ),
    (
        ["train", "--impl", "cuda", "--epochs", "1", "--min-accuracy", "99"],
        "--impl cuda (--op gelu): unavailable on --device cpu",
    ),
]


@pytest.mark.parametrize("argv, words", UNAVAILABLE, ids=[" ".join(argv) for argv, _ in UNAVAILABLE])
def test_an_implementation_asked_for_by_name_that_cannot_run_exits_1_with_its_reason(argv, words, capsys):
    assert _run(argv) == 1  # nothing trained or timed is never success
    err = capsys.readouterr().err
    assert words in err and len(err.strip().splitlines()) == 1, err


def test_a_named_implementation_whose_build_fails_is_unavailable(scratch_registry, capsys):
    def broken():
        raise RuntimeError("C++ build failed: no g++")

    scratch_registry.register("needs-a-compiler", lambda x: x, setup=broken)
    assert _run(["bench", "--impl", "needs-a-compiler", "--sizes", "2^10"]) == 1
    assert (
        "--impl needs-a-compiler (--op gelu): unavailable on --device cpu: C++ build failed: no g++"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize(
    "source, words",
    [
        (None, "FileNotFoundError: plugin file"),
        ("def broken(:\n", "SyntaxError"),
        ("raise RuntimeError('needs a licence server')\n", "RuntimeError: needs a licence server"),
        (
            "import opbench\nopbench.register('torch', lambda x: x)\n",
            "ValueError: an implementation named 'torch' of gelu is already registered",
        ),
    ],
)
def test_plugin_errors_name_the_plugin(tmp_path, capsys, source, words):
    plugin = tmp_path / "plugin.py"
    if source is not None:
        plugin.write_text(source)
    assert _run(["list", "--plugin", str(plugin)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"opbench: --plugin {plugin}: ") and words in err and len(err.strip().splitlines()) == 1


def test_list_takes_op_like_every_other_command(capsys):
    assert main(["list", "--op", "silu"]) == 0
    out = capsys.readouterr().out
    assert "silu" in out and "gelu-tanh" not in out
    assert main(["list", "--op", "nope"]) == 2 and "--op nope: no op of that name" in capsys.readouterr().err


def test_the_extension_sources_ship_with_the_package():
    """A non-editable install or a wheel carries opbench/csrc (pyproject's package-data), where build finds it."""
    import tomllib
    from pathlib import Path

    from opbench.impls import build

    root = Path(__file__).resolve().parent.parent
    globs = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["opbench"]
    shipped = {path for pattern in globs for path in (root / "opbench").glob(pattern)}
    assert build.CSRC == root / "opbench" / "csrc" and shipped == set(build.CSRC.iterdir())
    assert (root / "LICENSE").read_text().startswith("BSD 3-Clause License")

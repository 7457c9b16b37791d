"""The registry: registration, lookup, plugins, availability and input validation at the seam."""

import pytest
import torch

import opbench
from opbench.core import UnavailableError


def test_builtins_are_registered_with_the_baseline_first():
    assert [op.name for op in opbench.ops()][:3] == ["gelu", "gelu-tanh", "silu"]
    for op in ("gelu", "gelu-tanh", "silu"):
        names = [impl.name for impl in opbench.implementations(op=op)]
        assert names[0] == opbench.BASELINE
        assert {"torch", "python", "cpp", "cuda", "triton", "compiled"} <= set(names)
    assert opbench.lookup("torch", op="gelu-tanh").op.baseline is opbench.get_op("gelu-tanh").baseline


def test_register_as_decorator_and_get(scratch_registry):
    @scratch_registry.register("doubled-relu", description="not a GELU, a registry probe")
    def doubled_relu(x):
        return 2 * x.relu()

    impl = opbench.get("doubled-relu")
    assert impl.description == "not a GELU, a registry probe"
    assert impl(torch.tensor([-1.0, 2.0])).tolist() == [0.0, 4.0]
    assert doubled_relu(torch.tensor([3.0])).item() == 6.0  # the decorator returns the function


def test_duplicate_and_unknown_names_are_errors(scratch_registry):
    with pytest.raises(ValueError, match="already registered"):
        scratch_registry.register("torch", lambda x: x)
    scratch_registry.register(
        "mine", lambda x: x, op="silu"
    )  # the same name under another op is another implementation
    assert opbench.lookup("mine", op="silu").op.name == "silu"
    with pytest.raises(KeyError, match="no implementation named 'nope'"):
        opbench.get("nope")
    with pytest.raises(KeyError, match="no op named 'swish'; defined: gelu, gelu-tanh, silu"):
        scratch_registry.register("mine", lambda x: x, op="swish")
    with pytest.raises(ValueError, match="an op named 'silu' is already defined"):
        opbench.define_op(opbench.get_op("silu"))


def test_lookup_does_not_ask_for_availability(scratch_registry):
    scratch_registry.register("never-ready", lambda x: x, setup=lambda: 1 / 0)
    assert opbench.lookup("never-ready").name == "never-ready"
    with pytest.raises(UnavailableError):
        opbench.get("never-ready")


def test_filter_by_device_and_dtype(scratch_registry):
    scratch_registry.register("f32-only", lambda x: x, dtypes=(torch.float32,))
    assert "f32-only" in [i.name for i in opbench.implementations("cpu", torch.float32)]
    assert "f32-only" not in [i.name for i in opbench.implementations("cpu", torch.float16)]
    assert "cpp" not in [i.name for i in opbench.implementations("cuda")]


def test_failed_setup_makes_it_unavailable_with_the_reason(scratch_registry):
    def setup():
        raise RuntimeError("C++ build failed: x.cpp:3:1: error: 'foo' was not declared")

    scratch_registry.register("never-builds", lambda x: x, setup=setup)
    with pytest.raises(UnavailableError, match="never-builds is unavailable: C\\+\\+ build failed: x.cpp:3:1"):
        opbench.get("never-builds")
    assert opbench.get("torch")(torch.zeros(1)).item() == 0.0  # the rest keeps working


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the no-GPU message")
def test_cuda_only_implementation_without_gpu():
    assert opbench.implementations("cuda")[0].unavailable_reason("cuda") == "no CUDA device"
    assert opbench.lookup("cuda").unavailable_reason() == "no CUDA device"


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a CUDA device")
@pytest.mark.parametrize("command", ["check", "bench", "train", "report"])
def test_asking_for_an_absent_device_is_a_clear_error(command, capsys):
    from opbench.cli import main

    assert main([command, "--device", "cuda"]) == 2
    assert "--device cuda: no CUDA device is visible here" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.bool, torch.complex64, torch.uint8])
def test_bad_dtype_names_the_dtype(dtype):
    with pytest.raises(TypeError, match=f"torch: unsupported dtype {dtype}"):
        opbench.get("torch")(torch.zeros(3, dtype=dtype))


def test_wrong_device_names_the_device():
    with pytest.raises(ValueError, match="cpp: runs on cpu; got a tensor on meta"):
        opbench.get("cpp")(torch.zeros(3, device="meta"))


def test_non_tensor_input():
    with pytest.raises(TypeError, match="expected a torch.Tensor for x, got list"):
        opbench.get("torch")([1.0])


def test_plugin_from_file_and_module(tmp_path, monkeypatch, scratch_registry):
    (tmp_path / "my_gelus.py").write_text(
        "import opbench, torch\n"
        "opbench.register('plugin-gelu', torch.nn.functional.gelu, description='from a plugin')\n"
    )
    opbench.load_plugin(str(tmp_path / "my_gelus.py"))
    assert opbench.get("plugin-gelu").description == "from a plugin"
    (tmp_path / "more_gelus.py").write_text(
        "import opbench, torch\nopbench.register('module-gelu', torch.nn.functional.gelu)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    opbench.load_plugin("more_gelus")
    assert opbench.get("module-gelu")(torch.zeros(2)).tolist() == [0.0, 0.0]
    with pytest.raises(FileNotFoundError):
        opbench.load_plugin(str(tmp_path / "missing.py"))

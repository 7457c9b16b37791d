"""`compiled`: torch.compile of each op's formula passes the checks that autograd's derivative of the formula can, with
its configuration scoped to the calls that compile."""

import pytest
import torch

import opbench
from opbench.correctness import check
from opbench.impls import compiled


@pytest.mark.parametrize("op", ["gelu", "gelu-tanh", "silu"])
def test_compiled_passes_forward_backward_and_gradcheck(op):
    rows = check.run_checks(
        opbench.get("compiled", op=op),
        "cpu",
        [torch.float32, torch.float64],
        checks=("forward", "backward", "edges", "layouts", "gradcheck"),
    )
    assert check.failed(rows, strict=True) == [], rows


def test_compile_settings_do_not_leak_into_the_process():
    name = "recompile_limit" if hasattr(torch._dynamo.config, "recompile_limit") else "cache_size_limit"
    before = getattr(torch._dynamo.config, name), torch._functorch.config.donated_buffer
    opbench.get("compiled")(torch.randn(16, requires_grad=True)).sum().backward()
    assert (getattr(torch._dynamo.config, name), torch._functorch.config.donated_buffer) == before
    with compiled.compile_settings():
        assert getattr(torch._dynamo.config, name) == compiled.RECOMPILE_LIMIT

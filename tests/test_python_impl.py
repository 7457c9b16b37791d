"""`python`: each op's reference as an autograd.Function passes every check, and its backward unpacks saved tensors
right."""

import pytest
import torch

import opbench
from opbench.correctness import check
from opbench.spec.devices import FLOAT_DTYPES


@pytest.mark.parametrize("op", [op.name for op in opbench.ops()])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_python_passes_every_check_strictly(dtype, op):
    assert check.failed(check.run_checks(opbench.get("python", op=op), "cpu", [dtype]), strict=True) == []


def test_gradient_has_the_input_shape():
    x = torch.randn(3, 5, requires_grad=True)
    opbench.get("python")(x).sum().backward()
    assert x.grad.shape == (3, 5)

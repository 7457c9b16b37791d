"""`compiled`: torch.compile of the erf formula passes the checks that autograd's derivative of the formula can."""

import torch

import opbench
from opbench import check


def test_compiled_passes_forward_backward_and_gradcheck():
    rows = check.run_checks(opbench.get("compiled"), "cpu", [torch.float32, torch.float64],
                            checks=("forward", "backward", "edges", "layouts", "gradcheck"))
    assert check.failed(rows, strict=True) == [], rows


"""The float64 reference: the textbook formulas, the derivatives, and the limits."""

import math

import pytest
import torch
import torch.nn.functional as F

from opbench import reference


def test_erf_form_matches_the_textbook_formula():
    x = torch.linspace(-6, 6, 10001, dtype=torch.float64)
    textbook = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    torch.testing.assert_close(reference.gelu(x), textbook, rtol=1e-15, atol=1e-15)


def test_tanh_form_matches_pytorch_in_float64():
    x = torch.linspace(-6, 6, 10001, dtype=torch.float64)
    torch.testing.assert_close(reference.gelu(x, "tanh"), F.gelu(x, approximate="tanh"), rtol=1e-14, atol=1e-15)


def test_erfc_form_keeps_the_negative_tail():
    # 0.5 x (1 + erf(x/sqrt2)) at x = -10 cancels to 0 in float64; the true value is -7.6e-23.
    assert reference.gelu(torch.tensor(-10.0, dtype=torch.float64)).item() == pytest.approx(-7.6198530241605e-23, rel=1e-12)


@pytest.mark.parametrize("formula", ["erf", "tanh"])
def test_derivative_is_the_autograd_derivative(formula):
    x = torch.linspace(-8, 8, 2001, dtype=torch.float64, requires_grad=True)
    (autograd,) = torch.autograd.grad(reference.gelu(x, formula).sum(), x)
    torch.testing.assert_close(reference.gelu_derivative(x.detach(), formula), autograd, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("formula", ["erf", "tanh"])
def test_limits(formula):
    x = torch.tensor([value for value, _, _ in reference.LIMITS], dtype=torch.float64)
    values = torch.tensor([v for _, v, _ in reference.LIMITS], dtype=torch.float64)
    slopes = torch.tensor([s for _, _, s in reference.LIMITS], dtype=torch.float64)
    torch.testing.assert_close(reference.gelu(x, formula), values, equal_nan=True)
    torch.testing.assert_close(reference.gelu_derivative(x, formula), slopes, equal_nan=True)
    big = torch.tensor([1e300, -1e300], dtype=torch.float64)
    assert reference.gelu(big, formula).tolist() == [1e300, 0.0]
    assert reference.gelu_derivative(big, formula).tolist() == [1.0, 0.0]

"""The float64 references: the textbook formulas, the derivatives, and the limits, for every built-in op."""

import math

import pytest
import torch

from opbench.spec import activations, reference


def test_erf_form_matches_the_textbook_formula():
    x = torch.linspace(-6, 6, 10001, dtype=torch.float64)
    textbook = 0.5 * x * (1 + torch.erf(x / math.sqrt(2)))
    torch.testing.assert_close(reference.gelu(x), textbook, rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("op", activations.BUILT_IN, ids=lambda op: op.name)
def test_each_reference_matches_pytorch_in_float64_where_pytorch_is_exact(op):
    xs = _inputs(op, torch.linspace(-6, 6, 10001, dtype=torch.float64))
    torch.testing.assert_close(op.function(*xs), op.baseline(*xs), rtol=1e-14, atol=1e-15)


def _inputs(op, x):
    """x as the first input, and for an op of several, the others varied over [-3, 3] in another order."""
    return (x, *(torch.linspace(3, -3, len(x), dtype=x.dtype).roll(k * 37) for k in range(1, len(op.inputs))))


def test_erfc_form_keeps_the_negative_tail():
    # 0.5 x (1 + erf(x/sqrt2)) at x = -10 cancels to 0 in float64; the true value is -7.6e-23.
    assert reference.gelu(torch.tensor(-10.0, dtype=torch.float64)).item() == pytest.approx(
        -7.6198530241605e-23, rel=1e-12
    )


def test_sigmoid_forms_keep_the_negative_tail():
    # 0.5 x (1 + tanh(u)) cancels to 0 in float64 at x = -10; x sigmoid(2u) keeps -1.9e-29.
    x = torch.tensor(-10.0, dtype=torch.float64)
    u = math.sqrt(2 / math.pi) * (-10.0 + 0.044715 * -1000.0)
    assert reference.gelu_tanh(x).item() == pytest.approx(-10.0 / (1.0 + math.exp(-2 * u)), rel=1e-12)
    assert reference.silu(torch.tensor(-700.0, dtype=torch.float64)).item() == pytest.approx(
        -700.0 * math.exp(-700.0), rel=1e-12
    )


@pytest.mark.parametrize("op", activations.BUILT_IN, ids=lambda op: op.name)
def test_derivative_is_the_autograd_derivative(op):
    """Each partial derivative, of each input."""
    xs = [x.requires_grad_() for x in _inputs(op, torch.linspace(-8, 8, 2001, dtype=torch.float64))]
    autograd = torch.autograd.grad(op.function(*xs).sum(), xs)
    for partial, expected in zip(op.partials, autograd, strict=True):
        torch.testing.assert_close(partial(*(x.detach() for x in xs)), expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op", activations.BUILT_IN, ids=lambda op: op.name)
def test_limits(op):
    """Along the first input, the others at 1 (Op.along), as the op declares them."""
    x = torch.tensor([value for value, _, _ in op.limits], dtype=torch.float64)
    values = torch.tensor([v for _, v, _ in op.limits], dtype=torch.float64)
    slopes = torch.tensor([s for _, _, s in op.limits], dtype=torch.float64)
    torch.testing.assert_close(op.function(*op.along(x)), values, equal_nan=True)
    torch.testing.assert_close(op.partials[0](*op.along(x)), slopes, equal_nan=True)
    big = torch.tensor([1e300, -1e300], dtype=torch.float64)
    assert op.function(*op.along(big)).tolist() == [1e300, 0.0]
    assert op.partials[0](*op.along(big)).tolist() == [1.0, 0.0]

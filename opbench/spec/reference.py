"""The float64 reference math of the built-in activations and their derivatives, the only Python copy of it.

Checks evaluate it in float64 on the dtype-rounded input (opbench.spec.activations declares which function is
which op's). Every form here keeps full relative precision where a naive one cancels, and states
the limits at +-inf explicitly: the formulas alone give inf * 0 = nan there.
  gelu       x Phi(x),  Phi(x) = 0.5 erfc(-x / sqrt 2): erfc keeps the negative tail, where 1 + erf cancels
  gelu-tanh  0.5 x (1 + tanh(u)) with u = sqrt(2/pi) (x + 0.044715 x^3), written x sigmoid(2u):
             the same value without the cancellation of 1 + tanh(u) for u < 0
  silu       x sigmoid(x)
"""

from __future__ import annotations

import math

import torch

INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
TANH_CUBIC = 0.044715


def _times_vanishing(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """x * factor, taken as 0 where factor underflowed to 0 (the limit as |x| -> inf, not inf * 0)."""
    return torch.where(factor == 0, torch.zeros_like(x), x * factor)


def _sigmoid_slope(z: torch.Tensor) -> torch.Tensor:
    """d sigmoid(z) / dz = sigmoid(z) sigmoid(-z): exactly 0 (not nan) once either factor underflows."""
    return torch.sigmoid(z) * torch.sigmoid(-z)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """x Phi(x) in x's dtype."""
    return _times_vanishing(x, 0.5 * torch.erfc(-x * INV_SQRT2))


def gelu_derivative(x: torch.Tensor) -> torch.Tensor:
    """Phi(x) + x phi(x)."""
    density = torch.exp(-0.5 * x * x) * INV_SQRT_2PI
    return 0.5 * torch.erfc(-x * INV_SQRT2) + _times_vanishing(x, density)


def _tanh_argument(x: torch.Tensor) -> torch.Tensor:
    return SQRT_2_OVER_PI * (x + TANH_CUBIC * x * x * x)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """0.5 x (1 + tanh(u)) = x sigmoid(2u)."""
    return _times_vanishing(x, torch.sigmoid(2.0 * _tanh_argument(x)))


def gelu_tanh_derivative(x: torch.Tensor) -> torch.Tensor:
    """sigmoid(2u) + x * 2 sigmoid'(2u) du/dx. For large |x| the sigmoid slope is exactly 0 while du/dx
    may overflow to inf: the product is 0, not inf * 0."""
    u = _tanh_argument(x)
    du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_CUBIC * x * x)
    density = _times_vanishing(du_dx, 2.0 * _sigmoid_slope(2.0 * u))
    return torch.sigmoid(2.0 * u) + _times_vanishing(x, density)


def silu(x: torch.Tensor) -> torch.Tensor:
    """x sigmoid(x)."""
    return _times_vanishing(x, torch.sigmoid(x))


def silu_derivative(x: torch.Tensor) -> torch.Tensor:
    """sigmoid(x) + x sigmoid(x) sigmoid(-x)."""
    return torch.sigmoid(x) + _times_vanishing(x, _sigmoid_slope(x))

"""The GELU reference: exact erf and tanh forms and their derivatives, the only Python copy of the math.

Checks evaluate it in float64 on the dtype-rounded input. The erf form is written with erfc,
Phi(x) = 0.5 * erfc(-x / sqrt(2)), which equals 0.5 * (1 + erf(x / sqrt(2))) but keeps full relative
precision in the negative tail, where 1 + erf cancels. The limits at +-inf are stated explicitly:
the formulas alone give inf * 0 = nan there.
"""

from __future__ import annotations

import math

import torch

INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)
SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
TANH_CUBIC = 0.044715

# (input, GELU(input), GELU'(input)): what every implementation must return at the limits.
LIMITS = (
    (math.inf, math.inf, 1.0),
    (-math.inf, 0.0, 0.0),
    (math.nan, math.nan, math.nan),
)


def _times_vanishing(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """x * factor, taken as 0 where factor underflowed to 0 (the limit as |x| -> inf, not inf * 0)."""
    return torch.where(factor == 0, torch.zeros_like(x), x * factor)


def _tanh_argument(x: torch.Tensor) -> torch.Tensor:
    # 0.5 * (1 + tanh(u)) = sigmoid(2u): the same value without the cancellation of 1 + tanh(u) < 0.
    return SQRT_2_OVER_PI * (x + TANH_CUBIC * x * x * x)


def gelu(x: torch.Tensor, formula: str = "erf") -> torch.Tensor:
    """GELU(x) in x's dtype: x * Phi(x) (erf) or 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if formula == "erf":
        cdf = 0.5 * torch.erfc(-x * INV_SQRT2)
    else:
        cdf = torch.sigmoid(2.0 * _tanh_argument(x))
    return _times_vanishing(x, cdf)


def gelu_derivative(x: torch.Tensor, formula: str = "erf") -> torch.Tensor:
    """d GELU / dx in x's dtype: Phi(x) + x phi(x) (erf), or the derivative of the tanh form."""
    if formula == "erf":
        cdf = 0.5 * torch.erfc(-x * INV_SQRT2)
        density = torch.exp(-0.5 * x * x) * INV_SQRT_2PI
    else:
        u = _tanh_argument(x)
        cdf = torch.sigmoid(2.0 * u)
        # d sigmoid(2u)/dx = 2 sigmoid(2u) sigmoid(-2u) du/dx. For large |x| the sigmoid product is
        # exactly 0 while du/dx may overflow to inf: the product is 0, not inf * 0.
        du_dx = SQRT_2_OVER_PI * (1.0 + 3.0 * TANH_CUBIC * x * x)
        density = _times_vanishing(du_dx, 2.0 * cdf * torch.sigmoid(-2.0 * u))
    return cdf + _times_vanishing(x, density)


def expected(x: torch.Tensor, formula: str = "erf") -> torch.Tensor:
    """The float64 reference output for an input of any floating dtype."""
    return gelu(x.double(), formula)


def expected_grad(grad: torch.Tensor, x: torch.Tensor, formula: str = "erf") -> torch.Tensor:
    """The float64 reference input-gradient for an upstream gradient `grad`."""
    return grad.double() * gelu_derivative(x.double(), formula)

"""The activation specs (ops): one declaration per elementwise op holds everything checks, timing, training and reports
need of it.

An op is its float64 reference and derivative (opbench.spec.reference), its limits at +-inf and nan, the
finite inputs where its implementations tend to go wrong, and PyTorch's own implementation: the
baseline every speedup of the op is measured against, registered as its `torch` implementation when
the op is defined (registry.define_op). Nothing outside a spec branches on an op's name. A plugin
defines a new op the same way:

    opbench.define_op(opbench.Op("mish", "x tanh(softplus(x))", function=..., derivative=..., baseline=F.mish))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from opbench.spec import reference

# (input, f(input), f'(input)): an activation that tends to x for x -> +inf and to 0 for x -> -inf.
RECTIFIER_LIMITS = (
    (math.inf, math.inf, 1.0),
    (-math.inf, 0.0, 0.0),
    (math.nan, math.nan, math.nan),
)


@dataclass(frozen=True)
class Op:
    name: str  # as on the command line and in the CSVs' op column
    description: str
    function: Callable[[torch.Tensor], torch.Tensor]  # the reference f(x), evaluated in float64
    derivative: Callable[[torch.Tensor], torch.Tensor]  # the reference f'(x)
    baseline: Callable[[torch.Tensor], torch.Tensor]  # PyTorch's own: the `torch` implementation
    baseline_label: str = "PyTorch's own kernel"
    # Optional out= variants of the baseline, (x, out) -> out and (grad, x, grad_input) -> grad_input.
    baseline_out: Callable | None = field(default=None, compare=False)
    baseline_backward_out: Callable | None = field(default=None, compare=False)
    # The op as a user writes it in tensor ops, what `compiled` hands torch.compile; None: the baseline.
    formula: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)
    limits: tuple[tuple[float, float, float], ...] = RECTIFIER_LIMITS
    # Finite inputs, besides every dtype's edges (inputs.edge_values), where this op's float math turns.
    edge_values: tuple[float, ...] = ()

    def expected(self, x: torch.Tensor) -> torch.Tensor:
        """The float64 reference output for an input of any floating dtype."""
        return self.function(x.double())

    def expected_grad(self, grad: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The float64 reference input-gradient for an upstream gradient `grad`."""
        return grad.double() * self.derivative(x.double())


def _gelu_formula(x: torch.Tensor) -> torch.Tensor:
    # The plain formula, not F.gelu: on the CPU (AMD EPYC, 2 threads, torch 2.14.1, interleaved rounds)
    # Inductor made both forwards alike (1.80x / 1.81x of F.gelu's eager time at 2^20) but the formula's
    # autograd backward fused better (fwd+bwd 1.43x vs 1.82x at 2^20). Not opbench's float64 reference
    # (erfc with torch.where for the limits): Inductor does not vectorize it (6-8x). Its limits are the
    # formula's: nan at -inf, reported as a deviation.
    return 0.5 * x * (1.0 + torch.erf(x * reference.INV_SQRT2))


def _gelu_tanh_formula(x: torch.Tensor) -> torch.Tensor:
    return 0.5 * x * (1.0 + torch.tanh(reference.SQRT_2_OVER_PI * (x + reference.TANH_CUBIC * x * x * x)))


def _silu_formula(x: torch.Tensor) -> torch.Tensor:
    return x * torch.sigmoid(x)


GELU = Op(
    "gelu",
    "x Phi(x), the exact (erf) GELU",
    function=reference.gelu,
    derivative=reference.gelu_derivative,
    baseline=lambda x: F.gelu(x, approximate="none"),
    baseline_label="F.gelu(approximate='none')",
    baseline_out=lambda x, out: torch.ops.aten.gelu.out(x, out=out),
    baseline_backward_out=lambda grad, x, grad_input: torch.ops.aten.gelu_backward.grad_input(
        grad, x, grad_input=grad_input
    ),
    formula=_gelu_formula,
)
GELU_TANH = Op(
    "gelu-tanh",
    "0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), the tanh-approximated GELU",
    function=reference.gelu_tanh,
    derivative=reference.gelu_tanh_derivative,
    baseline=lambda x: F.gelu(x, approximate="tanh"),
    baseline_label="F.gelu(approximate='tanh')",
    baseline_out=lambda x, out: torch.ops.aten.gelu.out(x, approximate="tanh", out=out),
    baseline_backward_out=lambda grad, x, grad_input: torch.ops.aten.gelu_backward.grad_input(
        grad, x, approximate="tanh", grad_input=grad_input
    ),
    formula=_gelu_tanh_formula,
    # Where x^3 overflows float16 (~40) and float32 (~4.9e12): u must still saturate, not turn nan.
    edge_values=(3.0, 40.0, 5e12),
)
SILU = Op(
    "silu",
    "x sigmoid(x), also called swish",
    function=reference.silu,
    derivative=reference.silu_derivative,
    baseline=F.silu,
    baseline_label="F.silu",
    baseline_out=lambda x, out: torch.ops.aten.silu.out(x, out=out),
    baseline_backward_out=lambda grad, x, grad_input: torch.ops.aten.silu_backward.grad_input(
        grad, x, grad_input=grad_input
    ),
    formula=_silu_formula,
    # exp(-x) overflows float32 past 88.7 and float16 past 11.1; sigmoid saturates in float32 near 17.
    edge_values=(11.5, 17.0, 88.0, 89.0, 104.0),
)
BUILT_IN = (GELU, GELU_TANH, SILU)
DEFAULT = GELU.name

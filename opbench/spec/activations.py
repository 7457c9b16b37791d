"""The activation specs (ops): one declaration per elementwise op holds everything checks, timing, training and reports
need of it.

An op is its inputs (one tensor, or several of one shape: a gated op's gate and up), its float64
reference and derivatives (opbench.spec.reference), its limits at +-inf and nan, the finite inputs
where its implementations tend to go wrong, and PyTorch's own implementation: the baseline every
speedup of the op is measured against, registered as its `torch` implementation when the op is
defined (registry.define_op). Nothing outside a spec branches on an op's name or its number of
inputs. A plugin defines a new op the same way:

    opbench.define_op(opbench.Op("mish", "x tanh(softplus(x))", function=..., derivative=..., baseline=F.mish))
    opbench.define_op(opbench.gated("reglu", "relu(gate) * up", torch.relu, relu_derivative))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from opbench.spec import inputs, reference

INPUT_SEED_STRIDE = 1000  # input k of a multi-input op draws from seed + k * this: no two inputs alike

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
    function: Callable[..., torch.Tensor]  # the reference f(x) (f(gate, up), ...), evaluated in float64
    # The reference f'(x); for an op of several inputs a tuple of its partial derivatives, one per input,
    # each a function of all the inputs.
    derivative: Callable[..., torch.Tensor] | tuple[Callable[..., torch.Tensor], ...]
    baseline: Callable[..., torch.Tensor]  # PyTorch's own: the `torch` implementation
    baseline_label: str = "PyTorch's own kernel"
    # Optional out= variants of the baseline, (x, out) -> out and (grad, x, grad_input) -> grad_input.
    baseline_out: Callable | None = field(default=None, compare=False)
    baseline_backward_out: Callable | None = field(default=None, compare=False)
    # The op as a user writes it in tensor ops, what `compiled` hands torch.compile; None: the baseline.
    formula: Callable[[torch.Tensor], torch.Tensor] | None = field(default=None, compare=False)
    limits: tuple[tuple[float, float, float], ...] = RECTIFIER_LIMITS
    # Finite inputs, besides every dtype's edges (inputs.edge_values), where this op's float math turns.
    edge_values: tuple[float, ...] = ()
    # Its inputs' names, in call order: several are tensors of one shape. limits and edge_values are
    # along the first, the others held at 1 (along).
    inputs: tuple[str, ...] = ("x",)

    @property
    def partials(self) -> tuple[Callable[..., torch.Tensor], ...]:
        """The partial derivatives, one per input."""
        return self.derivative if isinstance(self.derivative, tuple) else (self.derivative,)

    def expected(self, *xs: torch.Tensor) -> torch.Tensor:
        """The float64 reference output for inputs of any floating dtype."""
        return self.function(*(x.double() for x in xs))

    def expected_grads(self, grad: torch.Tensor, *xs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The float64 reference gradients of the inputs for an upstream gradient `grad`, one per input."""
        xs = [x.double() for x in xs]
        return tuple(grad.double() * partial(*xs) for partial in self.partials)

    def along(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The op's inputs varying along its first, x, the others held at 1: where the edges, the limits
        and the ULP accuracy of an op of several inputs are taken (a gated op: its activation)."""
        return (x, *(torch.ones_like(x) for _ in self.inputs[1:]))

    def random_inputs(self, numel: int, dtype: torch.dtype, device: str, scale: float, seed: int):
        """Seeded random inputs, one tensor per input, each from its own seed."""
        return tuple(
            inputs.random_input(numel, dtype, device, scale, seed + INPUT_SEED_STRIDE * k)
            for k in range(len(self.inputs))
        )


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


def gated(
    name: str,
    description: str,
    activation: Callable[[torch.Tensor], torch.Tensor],
    activation_derivative: Callable[[torch.Tensor], torch.Tensor],
    baseline_activation: Callable[[torch.Tensor], torch.Tensor] | None = None,
    **fields,
) -> Op:
    """A gated op act(gate) * up (a GLU): two inputs of one shape; the first is activated. Its one
    tensor form, h of twice the width, is gate, up = h.chunk(2, -1) (Implementation.concatenated):
    PyTorch's F.glu gates the other way round (first half * sigmoid(second)). The reference is the
    activation's in float64 times up; its partial derivatives act'(gate) * up and act(gate);
    baseline_activation (default: activation) makes the eager composite a user writes, act(gate) * up."""
    act = baseline_activation or activation
    composite = lambda gate, up: act(gate) * up  # noqa: E731
    return Op(
        name,
        description,
        function=lambda gate, up: activation(gate) * up,
        derivative=(lambda gate, up: activation_derivative(gate) * up, lambda gate, up: activation(gate)),
        baseline=composite,
        baseline_label=f"the eager composite {description}",
        # The composite writing into the caller's tensor: act(gate) still allocates its intermediate.
        baseline_out=lambda gate, up, out: torch.mul(act(gate), up, out=out),
        inputs=("gate", "up"),
        **fields,
    )


SWIGLU = gated(
    "swiglu", "silu(gate) * up", reference.silu, reference.silu_derivative, F.silu, edge_values=SILU.edge_values
)
GEGLU = gated(
    "geglu",
    "gelu(gate) * up (exact erf)",
    reference.gelu,
    reference.gelu_derivative,
    lambda gate: F.gelu(gate, approximate="none"),
)
BUILT_IN = (GELU, GELU_TANH, SILU, SWIGLU, GEGLU)
DEFAULT = GELU.name

"""The Triton kernels behind `triton`: one forward and one backward kernel for every op, and each op's math as
@triton.jit functions (Triton's copy of opbench.spec.reference, evaluated in float32, or float64 for float64).

Imported only when the `triton` implementations are set up (importing Triton takes seconds, and it may
be absent): module-level functions, because Triton resolves the names a kernel calls in its module's
globals. FORMULAS maps each op to its (function, derivative) pair, passed to the kernels as constexpr
arguments: each op compiles its own specialization of the same kernel.
"""

import triton
import triton.language as tl

# 2 sqrt(2/pi) and 0.044715 times it: GELU-tanh is x sigmoid(z), z = x (A + B x^2), dz/dx = A + 3 B x^2.
TANH_A = 1.5957691216057308
TANH_B = 0.07135481627260025


@triton.jit
def times_vanishing(x, factor):  # x * factor -> 0 where factor is 0: the limit as |x| -> inf, not inf * 0
    return tl.where(factor == 0.0, 0.0, x * factor)


@triton.jit
def gelu(x):
    return times_vanishing(x, 0.5 * (1.0 + tl.math.erf(x * 0.7071067811865476)))


@triton.jit
def gelu_derivative(x):
    cdf = 0.5 * (1.0 + tl.math.erf(x * 0.7071067811865476))
    return cdf + times_vanishing(x, tl.exp(-0.5 * x * x) * 0.3989422804014327)


@triton.jit
def gelu_tanh(x):
    return times_vanishing(x, tl.sigmoid(x * (TANH_A + TANH_B * x * x)))


@triton.jit
def gelu_tanh_derivative(x):
    z = x * (TANH_A + TANH_B * x * x)
    slope = tl.sigmoid(z) * tl.sigmoid(-z)  # not sigmoid (1 - sigmoid): that cancels for large z
    return tl.sigmoid(z) + times_vanishing(x, times_vanishing(TANH_A + 3.0 * TANH_B * x * x, slope))


@triton.jit
def silu(x):
    return times_vanishing(x, tl.sigmoid(x))


@triton.jit
def silu_derivative(x):
    return tl.sigmoid(x) + times_vanishing(x, tl.sigmoid(x) * tl.sigmoid(-x))


FORMULAS = {
    "gelu": (gelu, gelu_derivative),
    "gelu-tanh": (gelu_tanh, gelu_tanh_derivative),
    "silu": (silu, silu_derivative),
}


@triton.jit
def forward_kernel(x_ptr, y_ptr, n, FUNCTION: tl.constexpr, OPMATH: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)  # 64-bit: past 2^31 too
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask).to(OPMATH)
    tl.store(y_ptr + offsets, FUNCTION(x).to(y_ptr.dtype.element_ty), mask=mask)


@triton.jit
def backward_kernel(grad_ptr, x_ptr, out_ptr, n, DERIVATIVE: tl.constexpr, OPMATH: tl.constexpr, BLOCK: tl.constexpr):
    offsets = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
    mask = offsets < n
    x = tl.load(x_ptr + offsets, mask=mask).to(OPMATH)
    grad = tl.load(grad_ptr + offsets, mask=mask).to(OPMATH)
    tl.store(out_ptr + offsets, (grad * DERIVATIVE(x)).to(out_ptr.dtype.element_ty), mask=mask)

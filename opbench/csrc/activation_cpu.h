// The CPU loops of every activation's forward and backward over a span of contiguous elements, templates
// over the op's math functor (activation_math.h), apart from their ops so that `python -m
// opbench.cpucost` can compile them for other instruction sets. Half types load, compute in float and
// store (compute_type).
#pragma once

#include <ATen/OpMathType.h>

#include <cstdint>
#include <type_traits>

#include "activation_math.h"

namespace opbench {
namespace {  // internal to each extension: called directly, not through the PLT

// The type a CPU kernel computes a scalar_t result in. float32 in double: float math (exp, the
// division, GELU's tail, each a rounding or a fit) left 3-6 ulp forward and, where the derivative's
// two terms cancel, hundreds of ulps backward; the same math in double, rounded once to float, is
// within 0.5 ulp plus the fits' 1e-10 (the ULP budgets of opbench/correctness/tolerance.py). It costs
// twice the vector lanes per element. The 16-bit types in float (at::opmath_type), which already rounds
// once to within their budgets; double in double.
template <typename scalar_t>
using compute_type = std::conditional_t<std::is_same_v<scalar_t, float>, double, at::opmath_type<scalar_t>>;

// One element of each loop, for the span loops below and the element-by-element walk of strided
// operands alike: load, compute in compute_type, round once to scalar_t. Always inlined (OPBENCH_HD):
// a call per element is what keeps a loop from vectorizing.
template <typename Op, typename scalar_t>
OPBENCH_HD scalar_t forward_value(scalar_t x) {
  using T = compute_type<scalar_t>;
  return static_cast<scalar_t>(Op::template forward<T, scalar_t>(static_cast<T>(x)));
}

template <typename Op, typename scalar_t>
OPBENCH_HD scalar_t backward_value(scalar_t grad, scalar_t x) {
  using T = compute_type<scalar_t>;
  return static_cast<scalar_t>(static_cast<T>(grad) * Op::template derivative<T, scalar_t>(static_cast<T>(x)));
}

template <typename Op, typename scalar_t>
OPBENCH_HD scalar_t gated_forward_value(scalar_t gate, scalar_t up) {
  using T = compute_type<scalar_t>;
  return static_cast<scalar_t>(Op::template forward<T, scalar_t>(static_cast<T>(gate), static_cast<T>(up)));
}

template <typename Op, typename scalar_t>
OPBENCH_HD scalar_t gate_gradient_value(scalar_t grad, scalar_t gate, scalar_t up) {
  using T = compute_type<scalar_t>;
  return static_cast<scalar_t>(
      Op::template gate_gradient<T, scalar_t>(static_cast<T>(grad), static_cast<T>(gate), static_cast<T>(up)));
}

template <typename Op, typename scalar_t>
OPBENCH_HD scalar_t up_gradient_value(scalar_t grad, scalar_t gate) {
  using T = compute_type<scalar_t>;
  return static_cast<scalar_t>(Op::template up_gradient<T, scalar_t>(static_cast<T>(grad), static_cast<T>(gate)));
}

// The loops take __restrict pointers: g++ vectorizes only once it knows the output aliases no input
// (inside a lambda that captures the pointers by reference, it cannot even know the pointers stay put).
// noinline: at::parallel_for runs its body inline below the grain size and in OpenMP workers above
// it; one out-of-line loop serves both, so both get the same vector code (python -m opbench.cpucost).
template <typename Op, typename scalar_t>
__attribute__((noinline)) void forward_span(const scalar_t* __restrict x, scalar_t* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    y[i] = forward_value<Op>(x[i]);
  }
}

template <typename Op, typename scalar_t>
__attribute__((noinline)) void backward_span(const scalar_t* __restrict grad, const scalar_t* __restrict x,
                                             scalar_t* __restrict grad_input, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    grad_input[i] = backward_value<Op>(grad[i], x[i]);
  }
}

// A gated op's loops (math::Gated): two inputs forward, two outputs backward.
template <typename Op, typename scalar_t>
__attribute__((noinline)) void gated_forward_span(const scalar_t* __restrict gate, const scalar_t* __restrict up,
                                                  scalar_t* __restrict y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    y[i] = gated_forward_value<Op>(gate[i], up[i]);
  }
}

// Both gradients in one pass over memory, as two loops over each block of kGatedBlock elements (its
// inputs stay in L1 between them): one loop computing act(gate) and act'(gate) together is not
// vectorized by g++ ("control flow in loop"), each alone is.
constexpr int64_t kGatedBlock = 512;

template <typename Op, typename scalar_t>
__attribute__((noinline)) void gated_backward_span(const scalar_t* __restrict grad, const scalar_t* __restrict gate,
                                                   const scalar_t* __restrict up, scalar_t* __restrict grad_gate,
                                                   scalar_t* __restrict grad_up, int64_t n) {
  for (int64_t start = 0; start < n; start += kGatedBlock) {
    const int64_t end = start + kGatedBlock < n ? start + kGatedBlock : n;
    for (int64_t i = start; i < end; ++i) {
      grad_gate[i] = gate_gradient_value<Op>(grad[i], gate[i], up[i]);
    }
    for (int64_t i = start; i < end; ++i) {
      grad_up[i] = up_gradient_value<Op>(grad[i], gate[i]);
    }
  }
}

}  // namespace
}  // namespace opbench

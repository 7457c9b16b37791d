// The CPU loops of every activation's forward and backward over a span of contiguous elements, templates
// over the op's math functor (activation_math.h), apart from their ops so that `python -m
// opbench.cpucost` can compile them for other instruction sets. Half types load, compute in float and
// store (at::opmath_type).
#pragma once

#include <ATen/OpMathType.h>

#include <cstdint>

#include "activation_math.h"

namespace opbench {
namespace {  // internal to each extension: called directly, not through the PLT

// The loops take __restrict pointers: g++ vectorizes only once it knows the output aliases no input
// (inside a lambda that captures the pointers by reference, it cannot even know the pointers stay put).
// noinline: at::parallel_for runs its body inline below the grain size and in OpenMP workers above
// it; one out-of-line loop serves both, so both get the same vector code (python -m opbench.cpucost).
template <typename Op, typename scalar_t>
__attribute__((noinline)) void forward_span(const scalar_t* __restrict x, scalar_t* __restrict y, int64_t n) {
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<scalar_t>(Op::forward(static_cast<opmath_t>(x[i])));
  }
}

template <typename Op, typename scalar_t>
__attribute__((noinline)) void backward_span(const scalar_t* __restrict grad, const scalar_t* __restrict x,
                                             scalar_t* __restrict grad_input, int64_t n) {
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t i = 0; i < n; ++i) {
    grad_input[i] = static_cast<scalar_t>(static_cast<opmath_t>(grad[i]) * Op::derivative(static_cast<opmath_t>(x[i])));
  }
}

// A gated op's loops (math::Gated): two inputs forward, two outputs backward.
template <typename Op, typename scalar_t>
__attribute__((noinline)) void gated_forward_span(const scalar_t* __restrict gate, const scalar_t* __restrict up,
                                                  scalar_t* __restrict y, int64_t n) {
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t i = 0; i < n; ++i) {
    y[i] = static_cast<scalar_t>(Op::forward(static_cast<opmath_t>(gate[i]), static_cast<opmath_t>(up[i])));
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
  using opmath_t = at::opmath_type<scalar_t>;
  for (int64_t start = 0; start < n; start += kGatedBlock) {
    const int64_t end = start + kGatedBlock < n ? start + kGatedBlock : n;
    for (int64_t i = start; i < end; ++i) {
      grad_gate[i] = static_cast<scalar_t>(Op::gate_gradient(
          static_cast<opmath_t>(grad[i]), static_cast<opmath_t>(gate[i]), static_cast<opmath_t>(up[i])));
    }
    for (int64_t i = start; i < end; ++i) {
      grad_up[i] = static_cast<scalar_t>(Op::up_gradient(static_cast<opmath_t>(grad[i]), static_cast<opmath_t>(gate[i])));
    }
  }
}

}  // namespace
}  // namespace opbench

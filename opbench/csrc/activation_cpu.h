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

}  // namespace
}  // namespace opbench

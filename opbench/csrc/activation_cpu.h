// The CPU kernels of every activation, as TensorIterator sees them: for each op's forward and backward
// (and a gated op's), its operands and the math of one element and of a run of contiguous elements,
// templates over the op's math functor (activation_math.h). cpu_loops.h compiles them into loops once
// per instruction set. Half types load, compute in float and store (compute_type).
#pragma once

#include <ATen/OpMathType.h>

#include <cstdint>
#include <type_traits>

#include "activation_math.h"

namespace opbench {

// The type a CPU kernel computes a scalar_t result in. float32 in double: float math (exp, the
// division, GELU's tail, each a rounding or a fit) left 3-6 ulp forward and, where the derivative's
// two terms cancel, hundreds of ulps backward; the same math in double, rounded once to float, is
// within 0.5 ulp plus the fits' 1e-10 (the ULP budgets of opbench/correctness/tolerance.py). It costs
// twice the vector lanes per element (GELU's float32 forward takes cpu_vector_runs.h's float tables
// instead, and this only outside their range). The 16-bit types in float (at::opmath_type), which
// already rounds once to within their budgets; double in double.
template <typename scalar_t>
using compute_type = std::conditional_t<std::is_same_v<scalar_t, float>, double, at::opmath_type<scalar_t>>;

// The type an op's values (forwards, a gated op's d/dup) compute in: compute_type, except float for a
// float32 result of an op whose functor computes those in float lanes (math::kFloatLanes: twice the
// lanes per instruction of double). Derivatives always take compute_type.
template <typename Op, typename Result>
using value_type =
    std::conditional_t<std::is_same_v<Result, float> && math::kFloatLanes<Op>, float, compute_type<Result>>;

// Each kernel below: scalar_t, kOperands (outputs first, then inputs: TensorIterator's order), kOutputs,
// run() over n elements contiguous in every operand, element() at one address per operand, and
// WithOperands<S>: the same kernel (the same math, for the same Result) over operands of type S. Each
// element is loaded, computed in compute_type<Result> (value_type<Op, Result> for values) and rounded
// once to scalar_t, for the vector runs and the element-by-element walk of strided operands alike.
// Result is the type the value is for: scalar_t, except where float16 operands were widened to float
// first (cpu_loops.h), whose math is still that of a float16 result. All always inlined (OPBENCH_HD)
// into cpu_loops.h's loops, so that they are compiled for the loop's instruction set: a call per
// element is what keeps a loop from vectorizing.
// The runs take __restrict pointers: g++ vectorizes a loop only once it knows the output aliases no
// input.

// The walks of a kernel of one output and kInputs (1 or 2) inputs, out = Kernel<Op, Scalar, Result>::value(inputs...),
// and its WithOperands.
template <template <typename, typename, typename> class Kernel, typename Op, typename Scalar, typename Result,
          int kInputs>
struct OneOutput {
  using scalar_t = Scalar;
  using Self = Kernel<Op, Scalar, Result>;
  template <typename S>
  using WithOperands = Kernel<Op, S, Result>;
  static constexpr int kOperands = 1 + kInputs;
  static constexpr int kOutputs = 1;

  static OPBENCH_HD void span(scalar_t* __restrict y, const scalar_t* __restrict a, const scalar_t* __restrict b,
                              int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      if constexpr (kInputs == 1) {
        y[i] = Self::value(a[i]);
      } else {
        y[i] = Self::value(a[i], b[i]);
      }
    }
  }
  static OPBENCH_HD void run(char** data, int64_t n) {
    const auto* b = kInputs == 1 ? nullptr : reinterpret_cast<const scalar_t*>(data[kOperands - 1]);
    span(reinterpret_cast<scalar_t*>(data[0]), reinterpret_cast<const scalar_t*>(data[1]), b, n);
  }
  static OPBENCH_HD void element(char** at) {
    const scalar_t a = *reinterpret_cast<const scalar_t*>(at[1]);
    if constexpr (kInputs == 1) {
      *reinterpret_cast<scalar_t*>(at[0]) = Self::value(a);
    } else {
      *reinterpret_cast<scalar_t*>(at[0]) = Self::value(a, *reinterpret_cast<const scalar_t*>(at[2]));
    }
  }
};

template <typename Op, typename Scalar, typename Result = Scalar>
struct Forward : OneOutput<Forward, Op, Scalar, Result, 1> {
  static OPBENCH_HD Scalar value(Scalar x) {
    using T = value_type<Op, Result>;
    return static_cast<Scalar>(Op::template forward<T, Result>(static_cast<T>(x)));
  }
};

// The input gradient for the upstream gradient grad.
template <typename Op, typename Scalar, typename Result = Scalar>
struct Backward : OneOutput<Backward, Op, Scalar, Result, 2> {
  static OPBENCH_HD Scalar value(Scalar grad, Scalar x) {
    using T = compute_type<Result>;
    return static_cast<Scalar>(static_cast<T>(grad) * Op::template derivative<T, Result>(static_cast<T>(x)));
  }
};

// A gated op's kernels (math::Gated): two inputs forward, two outputs backward.
template <typename Op, typename Scalar, typename Result = Scalar>
struct GatedForward : OneOutput<GatedForward, Op, Scalar, Result, 2> {
  static OPBENCH_HD Scalar value(Scalar gate, Scalar up) {
    using T = value_type<Op, Result>;
    return static_cast<Scalar>(Op::template forward<T, Result>(static_cast<T>(gate), static_cast<T>(up)));
  }
};

// Both gradients in one pass over memory, as two loops over each block of kGatedBlock elements (its
// inputs stay in L1 between them): one loop computing act(gate) and act'(gate) together is not
// vectorized by g++ ("control flow in loop"), each alone is.
constexpr int64_t kGatedBlock = 512;

template <typename Op, typename Scalar, typename Result = Scalar>
struct GatedBackward {
  using scalar_t = Scalar;
  template <typename S>
  using WithOperands = GatedBackward<Op, S, Result>;
  static constexpr int kOperands = 5;
  static constexpr int kOutputs = 2;

  static OPBENCH_HD scalar_t gate_gradient(scalar_t grad, scalar_t gate, scalar_t up) {
    using T = compute_type<Result>;
    return static_cast<scalar_t>(
        Op::template gate_gradient<T, Result>(static_cast<T>(grad), static_cast<T>(gate), static_cast<T>(up)));
  }
  static OPBENCH_HD scalar_t up_gradient(scalar_t grad, scalar_t gate) {
    using T = value_type<Op, Result>;
    return static_cast<scalar_t>(Op::template up_gradient<T, Result>(static_cast<T>(grad), static_cast<T>(gate)));
  }

  // d/dgate for elements [start, end): span's first loop, and that of an explicit backward loop that
  // computes d/dup its own way (cpu_vector_runs.h).
  static OPBENCH_HD void gate_gradients(scalar_t* __restrict grad_gate, const scalar_t* __restrict grad,
                                        const scalar_t* __restrict gate, const scalar_t* __restrict up,
                                        int64_t start, int64_t end) {
    for (int64_t i = start; i < end; ++i) {
      grad_gate[i] = gate_gradient(grad[i], gate[i], up[i]);
    }
  }

  static OPBENCH_HD void span(scalar_t* __restrict grad_gate, scalar_t* __restrict grad_up,
                              const scalar_t* __restrict grad, const scalar_t* __restrict gate,
                              const scalar_t* __restrict up, int64_t n) {
    for (int64_t start = 0; start < n; start += kGatedBlock) {
      const int64_t end = start + kGatedBlock < n ? start + kGatedBlock : n;
      gate_gradients(grad_gate, grad, gate, up, start, end);
      for (int64_t i = start; i < end; ++i) {
        grad_up[i] = up_gradient(grad[i], gate[i]);
      }
    }
  }
  static OPBENCH_HD void run(char** data, int64_t n) {
    span(reinterpret_cast<scalar_t*>(data[0]), reinterpret_cast<scalar_t*>(data[1]),
         reinterpret_cast<const scalar_t*>(data[2]), reinterpret_cast<const scalar_t*>(data[3]),
         reinterpret_cast<const scalar_t*>(data[4]), n);
  }
  static OPBENCH_HD void element(char** at) {
    const scalar_t grad = *reinterpret_cast<const scalar_t*>(at[2]);
    const scalar_t gate = *reinterpret_cast<const scalar_t*>(at[3]);
    *reinterpret_cast<scalar_t*>(at[0]) = gate_gradient(grad, gate, *reinterpret_cast<const scalar_t*>(at[4]));
    *reinterpret_cast<scalar_t*>(at[1]) = up_gradient(grad, gate);
  }
};

// Every kernel of every op in every dtype the CPU ops dispatch to, for X-macros (cpu_loops.h's
// instantiations): X(Kernel, Op, scalar_t).
#define OPBENCH_CPU_DTYPES(X, Kernel, Op) \
  X(Kernel, Op, float) X(Kernel, Op, double) X(Kernel, Op, c10::Half) X(Kernel, Op, c10::BFloat16)
#define OPBENCH_UNARY_KERNELS(X, Op) OPBENCH_CPU_DTYPES(X, Forward, Op) OPBENCH_CPU_DTYPES(X, Backward, Op)
#define OPBENCH_GATED_KERNELS(X, Op) OPBENCH_CPU_DTYPES(X, GatedForward, Op) OPBENCH_CPU_DTYPES(X, GatedBackward, Op)

}  // namespace opbench

// The CPU kernels' loops (activation_cpu.h) compiled for one instruction set, in namespace OPBENCH_ISA:
// each cpu_loops_<isa>.cpp includes this header under its own `#pragma GCC target`, so one source is
// the AVX-512, the AVX2 and the scalar code of one extension, and cpu_dispatch.h picks one at load time.
// Its caller includes activation_cpu.h before the pragma: the math's inline functions keep the default
// target (any copy g++ keeps out of line runs on every x86-64 CPU) and are inlined, always, into these
// loops, where they are vectorized for the loops' instruction set.
// OPBENCH_F16C (0 or 1) says whether the target has F16C's conversions; the caller includes <immintrin.h>
// first (g++ defines no __F16C__ after a target pragma in C++).
#ifndef OPBENCH_ISA
#error "cpu_loops.h: define OPBENCH_ISA, the namespace of one instruction set's loops, first"
#endif
#ifndef OPBENCH_F16C
#define OPBENCH_F16C 0
#endif

#include <cstdint>
#include <type_traits>

#include "activation_cpu.h"

// Hidden: every function here is reached through cpu_dispatch.h's table, never from outside the
// extension.
#pragma GCC visibility push(hidden)
namespace opbench {
namespace OPBENCH_ISA {

#if OPBENCH_F16C
// float16 where the CPU converts it (F16C: vcvtph2ps, vcvtps2ph, 8 lanes an instruction, rounding to
// nearest even as c10::Half does): each block of kHalfBlock elements is widened into float buffers on
// the stack (L1), computed by the kernel over float operands, which is the same math for the same
// float16 result, and narrowed back. c10::Half's own conversions, a dozen integer instructions each
// way per vector, cost more than the math there.
constexpr int64_t kHalfBlock = 256;

inline void widen_halves(const char* from, float* to, int64_t n) {
  const auto* bits = reinterpret_cast<const uint16_t*>(from);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(to + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bits + i))));
  }
  for (; i < n; ++i) {
    to[i] = _cvtsh_ss(bits[i]);
  }
}

inline void narrow_floats(const float* from, char* to, int64_t n) {
  auto* bits = reinterpret_cast<uint16_t*>(to);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(from + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bits + i), halves);
  }
  for (; i < n; ++i) {
    bits[i] = _cvtss_sh(from[i], _MM_FROUND_TO_NEAREST_INT);
  }
}

template <typename Kernel>
void half_run(char** data, int64_t n) {
  using InFloat = typename Kernel::template WithOperands<float>;
  float buffers[Kernel::kOperands][kHalfBlock];
  for (int64_t start = 0; start < n; start += kHalfBlock) {
    const int64_t length = n - start < kHalfBlock ? n - start : kHalfBlock;
    char* block[Kernel::kOperands];
    for (int k = 0; k < Kernel::kOperands; ++k) {
      block[k] = reinterpret_cast<char*>(buffers[k]);
      if (k >= Kernel::kOutputs) {
        widen_halves(data[k] + start * 2, buffers[k], length);
      }
    }
    InFloat::run(block, length);
    for (int k = 0; k < Kernel::kOutputs; ++k) {
      narrow_floats(buffers[k], data[k] + start * 2, length);
    }
  }
}
#endif

// The vector loop alone, out of line: inlined into loop() below, g++ allocates its registers worse
// (more instructions per element: python -m opbench.cpucost).
template <typename Kernel>
__attribute__((noinline)) void contiguous_run(char** data, int64_t n) {
#if OPBENCH_F16C
  if constexpr (std::is_same_v<typename Kernel::scalar_t, c10::Half>) {
    half_run<Kernel>(data, n);
    return;
  }
#endif
  Kernel::run(data, n);
}

// TensorIterator's inner loop for one kernel: operand k at data[k], stepping strides[k] bytes, for n
// elements. A run contiguous in every operand goes to the kernel's vector loop (run); any other (the
// columns of a transposed view that TensorIterator could not reorder) element by element.
template <typename Kernel>
void loop(char** data, const int64_t* strides, int64_t n) {
  bool contiguous = true;
  for (int k = 0; k < Kernel::kOperands; ++k) {
    contiguous = contiguous && strides[k] == static_cast<int64_t>(sizeof(typename Kernel::scalar_t));
  }
  if (contiguous) {
    contiguous_run<Kernel>(data, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    char* at[Kernel::kOperands];
    for (int k = 0; k < Kernel::kOperands; ++k) {
      at[k] = data[k] + i * strides[k];
    }
    Kernel::element(at);
  }
}

#define OPBENCH_INSTANTIATE_LOOP(Kernel, Op, scalar_t) \
  template void loop<Kernel<math::Op, scalar_t>>(char**, const int64_t*, int64_t);
#define OPBENCH_INSTANTIATE_UNARY(Op) OPBENCH_UNARY_KERNELS(OPBENCH_INSTANTIATE_LOOP, Op)
#define OPBENCH_INSTANTIATE_GATED(Op) OPBENCH_GATED_KERNELS(OPBENCH_INSTANTIATE_LOOP, Op)
OPBENCH_ACTIVATIONS(OPBENCH_INSTANTIATE_UNARY)
OPBENCH_GATED(OPBENCH_INSTANTIATE_GATED)
#undef OPBENCH_INSTANTIATE_GATED
#undef OPBENCH_INSTANTIATE_UNARY
#undef OPBENCH_INSTANTIATE_LOOP

}  // namespace OPBENCH_ISA
}  // namespace opbench
#pragma GCC visibility pop

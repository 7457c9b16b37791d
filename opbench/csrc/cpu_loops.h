// The CPU kernels' loops (activation_cpu.h) compiled for one instruction set, in namespace OPBENCH_ISA:
// each cpu_loops_<isa>.cpp includes this header under its own `#pragma GCC target`, so one source is
// the AVX-512, the AVX2 and the scalar code of one extension, and cpu_dispatch.h picks one at load time.
// Its caller includes activation_cpu.h before the pragma: the math's inline functions keep the default
// target (any copy g++ keeps out of line runs on every x86-64 CPU) and are inlined, always, into these
// loops, where they are vectorized for the loops' instruction set.
// OPBENCH_F16C (0 or 1) says whether the target has F16C's conversions, OPBENCH_AVX512 whether it has
// AVX-512's (16 lanes, and AVX512-BF16's asked at run time); the caller includes <immintrin.h> first
// (g++ defines no __F16C__ or __AVX512F__ after a target pragma in C++).
#ifndef OPBENCH_ISA
#error "cpu_loops.h: define OPBENCH_ISA, the namespace of one instruction set's loops, first"
#endif
#ifndef OPBENCH_F16C
#define OPBENCH_F16C 0
#endif
#ifndef OPBENCH_AVX512
#define OPBENCH_AVX512 0
#endif

#include <cstdint>
#include <type_traits>

#include "activation_cpu.h"
#include "cpu_vector_runs.h"

// Hidden: every function here is reached through cpu_dispatch.h's table, never from outside the
// extension.
#pragma GCC visibility push(hidden)
namespace opbench {
namespace OPBENCH_ISA {

// Runs that go through buffers on the stack (L1) go a block of kBufferBlock elements at a time.
// 16-bit operands the target converts in vector registers: each input widened into float buffers, the
// kernel run over float operands, which is the same math for the same 16-bit Result, and each output
// narrowed back, rounding to nearest even as c10::Half and c10::BFloat16 do. c10's own conversions,
// inlined into the kernel's loop, cost a dozen integer instructions each way per vector, more than the
// math for float16.
constexpr int64_t kBufferBlock = 256;

template <typename Kernel, void (*widen)(const char*, float*, int64_t), void (*narrow)(const float*, char*, int64_t)>
void widened_run(char** data, int64_t n) {
  using InFloat = typename Kernel::template WithOperands<float>;
  float buffers[Kernel::kOperands][kBufferBlock];
  for (int64_t start = 0; start < n; start += kBufferBlock) {
    const int64_t length = n - start < kBufferBlock ? n - start : kBufferBlock;
    char* block[Kernel::kOperands];
    for (int k = 0; k < Kernel::kOperands; ++k) {
      block[k] = reinterpret_cast<char*>(buffers[k]);
      if (k >= Kernel::kOutputs) {
        widen(data[k] + start * 2, buffers[k], length);
      }
    }
    InFloat::run(block, length);
    for (int k = 0; k < Kernel::kOutputs; ++k) {
      narrow(buffers[k], data[k] + start * 2, length);
    }
  }
}

#if OPBENCH_F16C
// float16 with F16C: vcvtph2ps and vcvtps2ph, 8 lanes an instruction (16 in the AVX-512 loops).
inline void widen_halves(const char* from, float* to, int64_t n) {
  const auto* bits = reinterpret_cast<const uint16_t*>(from);
  int64_t i = 0;
#if OPBENCH_AVX512
  for (; i + 16 <= n; i += 16) {
    _mm512_storeu_ps(to + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(bits + i))));
  }
#endif
  for (; i + 8 <= n; i += 8) {
    _mm256_storeu_ps(to + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(bits + i))));
  }
  for (; i < n; ++i) {
    to[i] = _cvtsh_ss(bits[i]);
  }
}

inline void narrow_to_halves(const float* from, char* to, int64_t n) {
  auto* bits = reinterpret_cast<uint16_t*>(to);
  int64_t i = 0;
#if OPBENCH_AVX512
  for (; i + 16 <= n; i += 16) {
    const __m256i halves = _mm512_cvtps_ph(_mm512_loadu_ps(from + i), _MM_FROUND_TO_NEAREST_INT);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bits + i), halves);
  }
#endif
  for (; i + 8 <= n; i += 8) {
    const __m128i halves = _mm256_cvtps_ph(_mm256_loadu_ps(from + i), _MM_FROUND_TO_NEAREST_INT);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(bits + i), halves);
  }
  for (; i < n; ++i) {
    bits[i] = _cvtss_sh(from[i], _MM_FROUND_TO_NEAREST_INT);
  }
}
#endif

#if OPBENCH_AVX512
// bfloat16 where the CPU has AVX512-BF16 (Cooper Lake, Sapphire Rapids, Zen 4), asked at run time:
// widening is a shift (vectorized as is), narrowing vcvtneps2bf16 and a subnormal check, two
// instructions per 16 lanes where the rounding shift (the carry of the discarded half, a nan select)
// costs about eight. narrow_to_bfloat16s is compiled for that extension and called out of line: the
// rest of this file runs on AVX-512 CPUs without it.
inline void widen_bfloat16s(const char* from, float* to, int64_t n) {
  const auto* bits = reinterpret_cast<const uint16_t*>(from);
  for (int64_t i = 0; i < n; ++i) {
    to[i] = math::bit_cast<float>(static_cast<uint32_t>(bits[i]) << 16);
  }
}

__attribute__((target("avx512bf16"), noinline)) void narrow_to_bfloat16s(const float* from, char* to, int64_t n) {
  int64_t i = 0;
  auto* bits = reinterpret_cast<c10::BFloat16*>(to);
  for (; i + 16 <= n; i += 16) {
    const __m512 floats = _mm512_loadu_ps(from + i);
    const __m256bh narrowed = _mm512_cvtneps_pbh(floats);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(bits + i), reinterpret_cast<const __m256i&>(narrowed));
    // vcvtneps2bf16 flushes subnormal floats to 0 whatever MXCSR says, and 2^-127 rounds to bfloat16's
    // smallest normal: those lanes (fpclass 0x20: subnormal), rare, are rounded one by one.
    for (__mmask16 subnormal = _mm512_fpclass_ps_mask(floats, 0x20); subnormal != 0; subnormal &= subnormal - 1) {
      const int lane = __builtin_ctz(subnormal);
      bits[i + lane] = c10::BFloat16(from[i + lane]);
    }
  }
  for (; i < n; ++i) {
    bits[i] = c10::BFloat16(from[i]);
  }
}

inline const bool kHasBfloat16Conversions = __builtin_cpu_supports("avx512bf16");
#endif

// The vector loop alone, out of line: inlined into loop() below, g++ allocates its registers worse
// (more instructions per element: python -m opbench.cpucost). A kernel's explicit loop where this
// instruction set has one (cpu_vector_runs.h).
template <typename Kernel>
__attribute__((noinline)) void contiguous_run(char** data, int64_t n) {
  if constexpr (VectorRun<Kernel>::kDefined) {
    VectorRun<Kernel>::run(data, n);
    return;
  }
#if OPBENCH_F16C
  if constexpr (std::is_same_v<typename Kernel::scalar_t, c10::Half>) {
    widened_run<Kernel, widen_halves, narrow_to_halves>(data, n);
    return;
  }
#endif
#if OPBENCH_AVX512
  if constexpr (std::is_same_v<typename Kernel::scalar_t, c10::BFloat16>) {
    if (kHasBfloat16Conversions) {
      widened_run<Kernel, widen_bfloat16s, narrow_to_bfloat16s>(data, n);
      return;
    }
  }
#endif
  Kernel::run(data, n);
}

// A strided run of a kernel with an explicit vector loop (cpu_vector_runs.h): its operands gathered
// into contiguous buffers and its outputs scattered back, so that every layout computes the vector
// loop's bits.
template <typename Kernel>
void buffered_run(char** data, const int64_t* strides, int64_t n) {
  using scalar_t = typename Kernel::scalar_t;
  scalar_t buffers[Kernel::kOperands][kBufferBlock];
  char* block[Kernel::kOperands];
  for (int k = 0; k < Kernel::kOperands; ++k) {
    block[k] = reinterpret_cast<char*>(buffers[k]);
  }
  for (int64_t start = 0; start < n; start += kBufferBlock) {
    const int64_t length = n - start < kBufferBlock ? n - start : kBufferBlock;
    for (int k = Kernel::kOutputs; k < Kernel::kOperands; ++k) {
      for (int64_t i = 0; i < length; ++i) {
        buffers[k][i] = *reinterpret_cast<const scalar_t*>(data[k] + (start + i) * strides[k]);
      }
    }
    VectorRun<Kernel>::run(block, length);
    for (int k = 0; k < Kernel::kOutputs; ++k) {
      for (int64_t i = 0; i < length; ++i) {
        *reinterpret_cast<scalar_t*>(data[k] + (start + i) * strides[k]) = buffers[k][i];
      }
    }
  }
}

// TensorIterator's inner loop for one kernel: operand k at data[k], stepping strides[k] bytes, for n
// elements. A run contiguous in every operand goes to the kernel's vector loop (run); any other (the
// columns of a transposed view that TensorIterator could not reorder) element by element, or
// through buffers where the kernel has an explicit vector loop.
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
  if constexpr (VectorRun<Kernel>::kDefined) {
    buffered_run<Kernel>(data, strides, n);
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

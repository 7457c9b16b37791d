// The per-thread body of the elementwise CUDA kernels, written so that the host compiler can run it
// too: tests/csrc/grid_shim.cpp loops it over every (block, thread) on the CPU to test the index logic
// (vector width, alignment, tail, grid stride, 64-bit offsets) where no GPU is present.
//
// Memory traffic: each element is read once from every input and written once; with 16-byte aligned
// pointers, loads and stores move 16-byte packs (one 128-bit instruction each on the GPU).
#pragma once

#include <stdint.h>

#include "activation_math.h"

namespace opbench {
namespace grid {

constexpr int kPackBytes = 16;

template <typename T>
struct alignas(kPackBytes) Pack {
  T v[kPackBytes / sizeof(T)];
};

OPBENCH_HD bool is_pack_aligned(const void* pointer) {
  return reinterpret_cast<uintptr_t>(pointer) % kPackBytes == 0;
}

// out[i] = op(in[0][i], ..., in[kInputs - 1][i]) for the i in [0, n) that belong to `thread` of
// `threads`: whole packs first, grid-stride, then the scalar tail, or all of it scalar when any
// pointer is misaligned (a view such as x[1:]). Offsets are int64_t: tensors past 2^31 elements work.
template <int kInputs, typename T, typename Op>
OPBENCH_HD void elementwise_thread(int64_t thread, int64_t threads, int64_t n, Op op, T* out,
                                   const T* const* in) {
  constexpr int kWidth = kPackBytes / sizeof(T);
  bool aligned = is_pack_aligned(out);
  for (int k = 0; k < kInputs; ++k) aligned = aligned && is_pack_aligned(in[k]);
  const int64_t vector_end = aligned ? n / kWidth * kWidth : 0;
  for (int64_t start = thread * kWidth; start < vector_end; start += threads * kWidth) {
    Pack<T> args[kInputs];
    for (int k = 0; k < kInputs; ++k) args[k] = *reinterpret_cast<const Pack<T>*>(in[k] + start);
    Pack<T> result;
    for (int j = 0; j < kWidth; ++j) {
      if constexpr (kInputs == 1) {
        result.v[j] = op(args[0].v[j]);
      } else {
        result.v[j] = op(args[0].v[j], args[1].v[j]);
      }
    }
    *reinterpret_cast<Pack<T>*>(out + start) = result;
  }
  for (int64_t i = vector_end + thread; i < n; i += threads) {
    if constexpr (kInputs == 1) {
      out[i] = op(in[0][i]);
    } else {
      out[i] = op(in[0][i], in[1][i]);
    }
  }
}

}  // namespace grid
}  // namespace opbench

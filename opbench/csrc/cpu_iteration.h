// What every CPU op of the extension shares: the grain of its parallel walk and the fresh output (with
// transparent huge pages).
#pragma once

#include <ATen/ATen.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <cstdint>

namespace opbench {
namespace {

// Elements per task: small tensors stay on one thread, where waking a second costs more than it saves.
constexpr int64_t kGrainSize = 16384;

// A large fresh output costs more in first-touch page faults than in the activation's math: one trap per
// 4 KiB page. Asking the kernel for transparent huge pages over it (one fault per 2 MiB) roughly
// halves a 2^24-element forward on 2 cores. Only the 2 MiB-aligned interior of the buffer is
// advised; the advice changes how pages are backed, never their contents. PyTorch's own
// allocations do the same only under THP_MEM_ALLOC_ENABLE=1. Only from 32 MiB on, glibc's largest
// mmap threshold: smaller blocks are recycled from the heap once one has been freed, their pages
// already there, and advising them only split the heap's mapping and woke khugepaged to collapse its
// pages beside the kernel: slower and far noisier forwards at 2^22 elements (docs/methodology.md).
void advise_huge_pages(void* data, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  constexpr int64_t kFresh = int64_t{32} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) & ~(kHugePage - 1);
  if (bytes >= kFresh && end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only: failure is harmless
  }
#endif
}

// x's layout where x is dense (a permuted view: transposed, channels-last), contiguous otherwise.
at::Tensor empty_output_like(const at::Tensor& input) {
  at::Tensor output = at::empty_like(input, at::MemoryFormat::Preserve);
  advise_huge_pages(output.data_ptr(), output.nbytes());
  return output;
}

}  // namespace
}  // namespace opbench

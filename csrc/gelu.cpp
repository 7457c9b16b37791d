// opbench::gelu and opbench::gelu_backward: the op schemas, declared once, and their fused CPU kernels.
//
// Each kernel is one pass: forward reads x and writes y (2 tensors of traffic), backward reads grad
// and x and writes grad_input (3). The loops (gelu_cpu.h) call the branch-free math of gelu_math.h,
// which g++ vectorizes at -O3 -march=native; at::parallel_for splits them over the intra-op threads.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include <cstdint>

#include "gelu_autograd.h"
#include "gelu_checks.h"
#include "gelu_cpu.h"

namespace opbench {
namespace {

// Elements per task: small tensors stay on one thread, where waking a second costs more than it saves.
constexpr int64_t kGrainSize = 16384;

// A large fresh output costs more in first-touch page faults than in GELU math: one trap per
// 4 KiB page. Asking the kernel for transparent huge pages over it (one fault per 2 MiB) roughly
// halves a 2^24-element forward on 2 cores. Only the 2 MiB-aligned interior of the buffer is
// advised; the advice changes how pages are backed, never their contents. PyTorch's own
// allocations do the same only under THP_MEM_ALLOC_ENABLE=1.
void advise_huge_pages(void* data, int64_t bytes) {
#if defined(__linux__) && defined(MADV_HUGEPAGE)
  constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + kHugePage - 1) & ~(kHugePage - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + static_cast<uintptr_t>(bytes)) & ~(kHugePage - 1);
  if (end > begin) {
    madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only: failure is harmless
  }
#endif
}

at::Tensor empty_output_like(const at::Tensor& input) {
  at::Tensor output = at::empty_like(input, at::MemoryFormat::Contiguous);
  advise_huge_pages(output.data_ptr(), output.nbytes());
  return output;
}

// The out= kernels do the work; the functional ops allocate (with the huge-page advice) and call them.
void gelu_out_cpu(const at::Tensor& x, at::Tensor& output) {
  check_gelu_input("opbench::gelu", x);
  check_gelu_output("opbench::gelu.out", output, x);
  const at::Tensor input = x.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "opbench::gelu", [&] {
    const scalar_t* in = input.const_data_ptr<scalar_t>();
    scalar_t* out = output.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, input.numel(), kGrainSize, [=](int64_t begin, int64_t end) {
      gelu_forward_span(in + begin, out + begin, end - begin);
    });
  });
}

void gelu_backward_out_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& grad_input) {
  check_gelu_backward_inputs("opbench::gelu_backward", grad, x);
  check_gelu_output("opbench::gelu_backward.out", grad_input, x);
  const at::Tensor input = x.contiguous();
  const at::Tensor grad_output = grad.contiguous();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "opbench::gelu_backward", [&] {
    const scalar_t* in = input.const_data_ptr<scalar_t>();
    const scalar_t* g = grad_output.const_data_ptr<scalar_t>();
    scalar_t* out = grad_input.mutable_data_ptr<scalar_t>();
    at::parallel_for(0, input.numel(), kGrainSize, [=](int64_t begin, int64_t end) {
      gelu_backward_span(g + begin, in + begin, out + begin, end - begin);
    });
  });
}

at::Tensor gelu_cpu(const at::Tensor& x) {
  check_gelu_input("opbench::gelu", x);
  at::Tensor output = empty_output_like(x);
  gelu_out_cpu(x, output);
  return output;
}

at::Tensor gelu_backward_cpu(const at::Tensor& grad, const at::Tensor& x) {
  check_gelu_backward_inputs("opbench::gelu_backward", grad, x);
  at::Tensor grad_input = empty_output_like(x);
  gelu_backward_out_cpu(grad, x, grad_input);
  return grad_input;
}

struct Ops {
  static constexpr const char* forward = "opbench::gelu";
  static constexpr const char* backward = "opbench::gelu_backward";
};

}  // namespace

TORCH_LIBRARY(opbench, m) {
  m.def("gelu(Tensor x) -> Tensor");
  m.def("gelu_backward(Tensor grad, Tensor x) -> Tensor");
  // Into a tensor the caller allocated once: kernel time without allocation. They return nothing,
  // unlike ATen's out= ops: torch.compile cannot functionalize a custom op whose output aliases an
  // input (opcheck's test_aot_dispatch_dynamic refuses `-> Tensor(a!)`).
  m.def("gelu.out(Tensor x, *, Tensor(a!) out) -> ()");
  m.def("gelu_backward.out(Tensor grad, Tensor x, *, Tensor(a!) grad_input) -> ()");
}

TORCH_LIBRARY_IMPL(opbench, CPU, m) {
  m.impl("gelu", &gelu_cpu);
  m.impl("gelu_backward", &gelu_backward_cpu);
  m.impl("gelu.out", &gelu_out_cpu);
  m.impl("gelu_backward.out", &gelu_backward_out_cpu);
}

// For every device: the CUDA extension adds kernels, not autograd.
TORCH_LIBRARY_IMPL(opbench, Autograd, m) {
  m.impl("gelu", &gelu_autograd<Ops>);
}

}  // namespace opbench

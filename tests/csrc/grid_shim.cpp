// A host "launch" of the CUDA kernels' per-thread body (csrc/elementwise_grid.h), for every op: every (block, thread) of
// a grid runs in turn on the CPU, so tests can probe the index logic without a GPU. The output
// starts as nan: an element no thread wrote stays nan and fails the comparison.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <torch/library.h>

#include <string>
#include <vector>

#include "activation_math.h"
#include "activation_registration.h"
#include "elementwise_grid.h"

namespace {

template <typename Op>
struct Forward {
  template <typename T>
  T operator()(T x) const { return Op::forward(x); }
};

template <typename Op>
struct Backward {
  template <typename T>
  T operator()(T grad, T x) const { return grad * Op::derivative(x); }
};

template <int kInputs, typename Op>
at::Tensor launch_on_host(const std::vector<at::Tensor>& inputs, int64_t blocks, int64_t threads_per_block, Op op) {
  for (const auto& input : inputs) {
    TORCH_CHECK(input.is_cpu() && input.is_contiguous(), "grid_shim takes contiguous CPU tensors");
  }
  const at::Tensor& x = inputs.back();
  at::Tensor out = at::full_like(x, NAN, at::MemoryFormat::Contiguous);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "grid_shim", [&] {
    const scalar_t* in[kInputs];
    for (int k = 0; k < kInputs; ++k) in[k] = inputs[k].const_data_ptr<scalar_t>();
    const int64_t threads = blocks * threads_per_block;
    for (int64_t thread = 0; thread < threads; ++thread) {
      opbench::grid::elementwise_thread<kInputs>(thread, threads, x.numel(), op, out.mutable_data_ptr<scalar_t>(), in);
    }
  });
  return out;
}

template <typename Op>
at::Tensor forward(const at::Tensor& x, int64_t blocks, int64_t threads_per_block) {
  return launch_on_host<1>({x}, blocks, threads_per_block, Forward<Op>{});
}

template <typename Op>
at::Tensor backward(const at::Tensor& grad, const at::Tensor& x, int64_t blocks, int64_t threads_per_block) {
  return launch_on_host<2>({grad, x}, blocks, threads_per_block, Backward<Op>{});
}

}  // namespace

// For each op of activation_math.h: <op>(x, blocks, threads_per_block) and <op>_backward(grad, x, ...).
#define SHIM_DEFINE(Op)                                                                                       \
  m.def((std::string(opbench::math::Op::kName) + "(Tensor x, int blocks, int threads_per_block) -> Tensor").c_str()); \
  m.def((std::string(opbench::math::Op::kName) +                                                              \
         "_backward(Tensor grad, Tensor x, int blocks, int threads_per_block) -> Tensor").c_str());
#define SHIM_IMPLEMENT(Op) \
  opbench::bind_forward_and_backward<opbench::math::Op>(m, "", &forward<opbench::math::Op>, &backward<opbench::math::Op>);

TORCH_LIBRARY(opbench_grid_shim, m) { OPBENCH_ACTIVATIONS(SHIM_DEFINE) }

TORCH_LIBRARY_IMPL(opbench_grid_shim, CPU, m) { OPBENCH_ACTIVATIONS(SHIM_IMPLEMENT) }

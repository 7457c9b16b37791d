// The activation ops of the opbench namespace: for each op of OPBENCH_ACTIVATIONS (activation_math.h),
// its schemas, declared once (<op>, <op>_backward and their out= overloads), and its fused CPU kernels.
//
// Each kernel is one pass: forward reads x and writes y (2 tensors of traffic), backward reads grad
// and x and writes grad_input (3), in whatever layout they come: a TensorIterator walks them (and splits
// the walk over the intra-op threads) and hands each run to the loops of the instruction set this CPU
// runs (cpu_dispatch.h), where every run that lies contiguous in all of them goes to a vector loop over
// the branch-free math of activation_math.h. A dense input in any order (a transposed or channels-last
// view) is one such run, and its output gets its strides; the halves h.chunk(2, -1) gives are one run
// per row. Nothing is copied to contiguous first.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/TensorIterator.h>
#include <torch/library.h>

#include <cstdint>
#include <string>

#include "activation_autograd.h"
#include "activation_checks.h"
#include "activation_registration.h"
#include "cpu_dispatch.h"
#include "cpu_iteration.h"

namespace opbench {
namespace {

template <typename Op>
struct Schema {
  static constexpr const char* kNamespace = "opbench";
  static constexpr const char* kName = Op::kName;
};

// The out= kernels do the work; the functional ops allocate (with the huge-page advice) and call them.
template <typename Op>
void forward_out_cpu(const at::Tensor& x, at::Tensor& output) {
  check_forward_call<Op>(x, output);
  at::TensorIterator iter = at::TensorIteratorConfig().add_output(output).add_const_input(x).build();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), Op::kName, [&] {
    iter.for_each(cpu_loop<Forward<Op, scalar_t>>(), kGrainSize);
  });
}

template <typename Op>
void backward_out_cpu(const at::Tensor& grad, const at::Tensor& x, at::Tensor& grad_input) {
  check_backward_call<Op>(grad, x, grad_input);
  at::TensorIterator iter =
      at::TensorIteratorConfig().add_output(grad_input).add_const_input(grad).add_const_input(x).build();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, x.scalar_type(), Op::kName, [&] {
    iter.for_each(cpu_loop<Backward<Op, scalar_t>>(), kGrainSize);
  });
}

template <typename Op>
at::Tensor forward_cpu(const at::Tensor& x) {
  at::Tensor output = empty_output_like(x);
  forward_out_cpu<Op>(x, output);
  return output;
}

template <typename Op>
at::Tensor backward_cpu(const at::Tensor& grad, const at::Tensor& x) {
  at::Tensor grad_input = empty_output_like(x);
  backward_out_cpu<Op>(grad, x, grad_input);
  return grad_input;
}

// The schemas of one op. The out= overloads write into a tensor the caller allocated once: kernel time
// without allocation. They return nothing, unlike ATen's out= ops: torch.compile cannot functionalize
// a custom op whose output aliases an input (opcheck's test_aot_dispatch_dynamic refuses `-> Tensor(a!)`).
template <typename Op>
void define(torch::Library& m) {
  const std::string name = Op::kName;
  m.def((name + "(Tensor x) -> Tensor").c_str());
  m.def((name + "_backward(Tensor grad, Tensor x) -> Tensor").c_str());
  m.def((name + ".out(Tensor x, *, Tensor(a!) out) -> ()").c_str());
  m.def((name + "_backward.out(Tensor grad, Tensor x, *, Tensor(a!) grad_input) -> ()").c_str());
}

template <typename Op>
void implement_cpu(torch::Library& m) {
  bind_forward_and_backward<Op>(m, "", &forward_cpu<Op>, &backward_cpu<Op>);
  bind_forward_and_backward<Op>(m, ".out", &forward_out_cpu<Op>, &backward_out_cpu<Op>);
}

// For every device: the CUDA extension adds kernels, not autograd.
template <typename Op>
void implement_autograd(torch::Library& m) {
  m.impl(Op::kName, &activation_autograd<Schema<Op>>);
}

}  // namespace

#define OPBENCH_DEFINE(Op) define<math::Op>(m);
#define OPBENCH_IMPLEMENT_CPU(Op) implement_cpu<math::Op>(m);
#define OPBENCH_IMPLEMENT_AUTOGRAD(Op) implement_autograd<math::Op>(m);

TORCH_LIBRARY(opbench, m) { OPBENCH_ACTIVATIONS(OPBENCH_DEFINE) }

TORCH_LIBRARY_IMPL(opbench, CPU, m) { OPBENCH_ACTIVATIONS(OPBENCH_IMPLEMENT_CPU) }

TORCH_LIBRARY_IMPL(opbench, Autograd, m) { OPBENCH_ACTIVATIONS(OPBENCH_IMPLEMENT_AUTOGRAD) }

}  // namespace opbench

// The gated ops of the opbench namespace (OPBENCH_GATED in activation_math.h: swiglu, geglu), act(gate) * up: their
// schemas, fused CPU kernels and C++ autograd. A fragment of the library activations.cpp declares.
//
// Forward is one pass reading gate and up and writing y; backward one pass reading grad, gate and up
// and writing both gradients, recomputing act(gate): nothing is saved for backward but the inputs.
// The halves h.chunk(2, -1) gives are strided views: a TensorIterator walks them in place, one
// contiguous run per row for cpu_loops.h's vector loops, no copy.
#include <ATen/ATen.h>
#include <ATen/Dispatch.h>
#include <ATen/TensorIterator.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>
#include <torch/library.h>

#include <string>
#include <tuple>

#include "activation_checks.h"
#include "cpu_dispatch.h"
#include "cpu_iteration.h"

namespace opbench {
namespace {

template <typename Op>
const std::string& qualified(const char* suffix) {
  static const std::string forward = std::string("opbench::") + Op::kName;
  static const std::string backward = forward + "_backward";
  return std::string(suffix).empty() ? forward : backward;
}

// up must be a tensor like gate: same shape, dtype and device.
template <typename Op>
void check_gated_call(const char* suffix, const at::Tensor& gate, const at::Tensor& up) {
  const std::string& op = qualified<Op>(suffix);
  check_input(op.c_str(), gate);
  TORCH_CHECK(up.sizes() == gate.sizes(), op, ": up has shape ", up.sizes(), " but gate has shape ", gate.sizes());
  TORCH_CHECK(up.scalar_type() == gate.scalar_type(), op, ": up is ", up.scalar_type(), " but gate is ",
              gate.scalar_type());
  TORCH_CHECK(up.device() == gate.device(), op, ": up is on ", up.device(), " but gate is on ", gate.device());
}

template <typename Op>
void forward_out_cpu(const at::Tensor& gate, const at::Tensor& up, at::Tensor& output) {
  check_gated_call<Op>("", gate, up);
  check_output((qualified<Op>("") + ".out").c_str(), output, gate);
  at::TensorIterator iter =
      at::TensorIteratorConfig().add_output(output).add_const_input(gate).add_const_input(up).build();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, gate.scalar_type(), Op::kName, [&] {
    iter.for_each(cpu_loop<GatedForward<Op, scalar_t>>(), kGrainSize);
  });
}

template <typename Op>
void backward_out_cpu(const at::Tensor& grad, const at::Tensor& gate, const at::Tensor& up, at::Tensor& grad_gate,
                      at::Tensor& grad_up) {
  const std::string& op = qualified<Op>("_backward");
  check_gated_call<Op>("_backward", gate, up);
  check_backward_inputs(op.c_str(), grad, gate);
  check_output((op + ".out").c_str(), grad_gate, gate);
  check_output((op + ".out").c_str(), grad_up, gate);
  at::TensorIterator iter = at::TensorIteratorConfig()
                                .add_output(grad_gate)
                                .add_output(grad_up)
                                .add_const_input(grad)
                                .add_const_input(gate)
                                .add_const_input(up)
                                .build();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, gate.scalar_type(), Op::kName, [&] {
    iter.for_each(cpu_loop<GatedBackward<Op, scalar_t>>(), kGrainSize);
  });
}

template <typename Op>
at::Tensor forward_cpu(const at::Tensor& gate, const at::Tensor& up) {
  at::Tensor output = empty_output_like(gate);
  forward_out_cpu<Op>(gate, up, output);
  return output;
}

template <typename Op>
std::tuple<at::Tensor, at::Tensor> backward_cpu(const at::Tensor& grad, const at::Tensor& gate, const at::Tensor& up) {
  at::Tensor grad_gate = empty_output_like(gate);
  at::Tensor grad_up = empty_output_like(up);
  backward_out_cpu<Op>(grad, gate, up, grad_gate, grad_up);
  return {grad_gate, grad_up};
}

// Autograd in C++, as activation_autograd.h for the ops of one input: save gate and up, call the op below
// autograd; backward calls <op>_backward.
template <typename Op>
class GatedFunction : public torch::autograd::Function<GatedFunction<Op>> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& gate, const at::Tensor& up) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow(qualified<Op>("").c_str(), "")
                               .template typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
    ctx->save_for_backward({gate, up});
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // else this kernel would call itself
    return op.call(gate, up);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    static const auto op =
        c10::Dispatcher::singleton()
            .findSchemaOrThrow(qualified<Op>("_backward").c_str(), "")
            .template typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&, const at::Tensor&, const at::Tensor&)>();
    const auto saved = ctx->get_saved_variables();
    auto [grad_gate, grad_up] = op.call(grads[0], saved[0], saved[1]);
    return {grad_gate, grad_up};
  }
};

template <typename Op>
at::Tensor gated_autograd(const at::Tensor& gate, const at::Tensor& up) {
  return GatedFunction<Op>::apply(gate, up);
}

// The out= overloads return nothing, as activations.cpp's do (torch.compile cannot functionalize an
// aliasing custom op).
template <typename Op>
void define(torch::Library& m) {
  const std::string name = Op::kName;
  m.def((name + "(Tensor gate, Tensor up) -> Tensor").c_str());
  m.def((name + "_backward(Tensor grad, Tensor gate, Tensor up) -> (Tensor, Tensor)").c_str());
  m.def((name + ".out(Tensor gate, Tensor up, *, Tensor(a!) out) -> ()").c_str());
  m.def((name + "_backward.out(Tensor grad, Tensor gate, Tensor up, *, Tensor(a!) grad_gate, Tensor(b!) grad_up) -> ()")
            .c_str());
}

template <typename Op>
void implement_cpu(torch::Library& m) {
  const std::string name = Op::kName;
  m.impl(name.c_str(), &forward_cpu<Op>);
  m.impl((name + "_backward").c_str(), &backward_cpu<Op>);
  m.impl((name + ".out").c_str(), &forward_out_cpu<Op>);
  m.impl((name + "_backward.out").c_str(), &backward_out_cpu<Op>);
}

}  // namespace

#define OPBENCH_DEFINE_GATED(Op) define<math::Op>(m);
#define OPBENCH_IMPLEMENT_GATED_CPU(Op) implement_cpu<math::Op>(m);
#define OPBENCH_IMPLEMENT_GATED_AUTOGRAD(Op) m.impl(math::Op::kName, &gated_autograd<math::Op>);

TORCH_LIBRARY_FRAGMENT(opbench, m) { OPBENCH_GATED(OPBENCH_DEFINE_GATED) }

TORCH_LIBRARY_IMPL(opbench, CPU, m) { OPBENCH_GATED(OPBENCH_IMPLEMENT_GATED_CPU) }

TORCH_LIBRARY_IMPL(opbench, Autograd, m) { OPBENCH_GATED(OPBENCH_IMPLEMENT_GATED_AUTOGRAD) }

}  // namespace opbench

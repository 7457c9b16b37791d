// Autograd for an extension's gelu op, registered in C++ (TORCH_LIBRARY_IMPL(ns, Autograd, ...)).
//
// torch.library.register_autograd would do the same from Python, but then every call, with or
// without gradients, passes through a Python function: about 10 us per call on a 2-core AMD EPYC,
// several times the whole kernel at LeNet-5's activation sizes (64 x 84 elements). Here the
// autograd layer is a C++ function: save x, call the op below autograd; backward calls
// gelu_backward. Fake (meta) kernels stay in Python (opbench/impls/custom_ops.py).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

namespace opbench {

// Ops names the schemas: a struct with static constexpr const char* forward and backward
// ("ns::gelu", "ns::gelu_backward"), so that each extension gets its own Function type.
template <typename Ops>
class GeluFunction : public torch::autograd::Function<GeluFunction<Ops>> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow(Ops::forward, "")
                               .template typed<at::Tensor(const at::Tensor&)>();
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // else this kernel would call itself
    return op.call(x);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow(Ops::backward, "")
                               .template typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {op.call(grads[0], x)};
  }
};

template <typename Ops>
at::Tensor gelu_autograd(const at::Tensor& x) {
  return GeluFunction<Ops>::apply(x);
}

}  // namespace opbench

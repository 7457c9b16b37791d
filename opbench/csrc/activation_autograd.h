// Autograd for an extension's activation op, registered in C++ (TORCH_LIBRARY_IMPL(ns, Autograd, ...)).
//
// torch.library.register_autograd would do the same from Python, but then every call, with or
// without gradients, passes through a Python function: about 10 us per call on a 2-core AMD EPYC,
// several times the whole kernel at LeNet-5's activation sizes (64 x 84 elements). Here the
// autograd layer is a C++ function: save x, call the op below autograd; backward calls
// <op>_backward. Fake (meta) kernels stay in Python (opbench/impls/custom_ops.py).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/autograd.h>

#include <string>

namespace opbench {

// Schema names the ops: a struct with static constexpr const char* kNamespace and kName, for the
// schemas "<kNamespace>::<kName>(Tensor x)" and "<kNamespace>::<kName>_backward(Tensor grad, Tensor x)".
template <typename Schema>
class ActivationFunction : public torch::autograd::Function<ActivationFunction<Schema>> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow(qualified("").c_str(), "")
                               .template typed<at::Tensor(const at::Tensor&)>();
    ctx->save_for_backward({x});
    at::AutoDispatchBelowADInplaceOrView below_autograd;  // else this kernel would call itself
    return op.call(x);
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    static const auto op = c10::Dispatcher::singleton()
                               .findSchemaOrThrow(qualified("_backward").c_str(), "")
                               .template typed<at::Tensor(const at::Tensor&, const at::Tensor&)>();
    const at::Tensor x = ctx->get_saved_variables()[0];
    return {op.call(grads[0], x)};
  }

 private:
  static std::string qualified(const char* suffix) {
    return std::string(Schema::kNamespace) + "::" + Schema::kName + suffix;
  }
};

template <typename Schema>
at::Tensor activation_autograd(const at::Tensor& x) {
  return ActivationFunction<Schema>::apply(x);
}

}  // namespace opbench

// The reference lab's C++ GELU, kept as the baseline: a composite of ATen tensor ops (torch::erf,
// torch::exp), each its own pass over memory with its own temporary. Forward makes about 5 passes,
// backward about 9; the fused kernels in gelu.cpp make one. Registered as its own ops so that it
// shares the autograd and fake-tensor wiring of opbench::gelu.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <cmath>

#include "activation_autograd.h"
#include "activation_checks.h"

namespace opbench_composite {
namespace {

at::Tensor gelu(const at::Tensor& x) {
  opbench::check_input("opbench_composite::gelu", x);
  return 0.5 * x * (1.0 + at::erf(x * M_SQRT1_2));
}

at::Tensor gelu_backward(const at::Tensor& grad, const at::Tensor& x) {
  opbench::check_backward_inputs("opbench_composite::gelu_backward", grad, x);
  const at::Tensor cdf = 0.5 * (1.0 + at::erf(x * M_SQRT1_2));
  const at::Tensor pdf = at::exp(-0.5 * x * x) * (0.5 * M_2_SQRTPI * M_SQRT1_2);
  return grad * (cdf + x * pdf);
}

struct Schema {
  static constexpr const char* kNamespace = "opbench_composite";
  static constexpr const char* kName = "gelu";
};

}  // namespace

TORCH_LIBRARY(opbench_composite, m) {
  m.def("gelu(Tensor x) -> Tensor");
  m.def("gelu_backward(Tensor grad, Tensor x) -> Tensor");
}

// Composite of device-generic ATen ops: the same code serves every device.
TORCH_LIBRARY_IMPL(opbench_composite, CompositeExplicitAutograd, m) {
  m.impl("gelu", &gelu);
  m.impl("gelu_backward", &gelu_backward);
}

TORCH_LIBRARY_IMPL(opbench_composite, Autograd, m) {
  m.impl("gelu", &opbench::activation_autograd<Schema>);
}

}  // namespace opbench_composite

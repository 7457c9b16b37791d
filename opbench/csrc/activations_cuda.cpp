// TORCH_LIBRARY_IMPL(opbench, CUDA): binds the kernels of activation_kernel.cu to the ops declared in
// activations.cpp, for every op of OPBENCH_ACTIVATIONS, out= overloads included. Checks the arguments,
// makes inputs contiguous, allocates the output, launches on the current stream of the tensor's own
// device, and checks the launch.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "activation_checks.h"
#include "activation_kernel.h"
#include "activation_registration.h"

namespace opbench {
namespace {

cuda::DType kernel_dtype(at::ScalarType dtype) {
  switch (dtype) {
    case at::kFloat: return cuda::DType::kFloat32;
    case at::kDouble: return cuda::DType::kFloat64;
    case at::kHalf: return cuda::DType::kFloat16;
    case at::kBFloat16: return cuda::DType::kBFloat16;
    default: TORCH_CHECK(false, "opbench CUDA kernels: unsupported dtype ", dtype);
  }
}

// The out= kernels do the work; the functional ops allocate a contiguous output and call them.
template <typename Op>
void forward_out_cuda(const at::Tensor& x, at::Tensor& output) {
  check_forward_call<Op>(x, output);
  const c10::cuda::CUDAGuard device_guard(x.device());
  const at::Tensor input = x.contiguous();
  if (input.numel() > 0) {
    cuda::launch_forward<Op>(kernel_dtype(input.scalar_type()), input.const_data_ptr(), output.mutable_data_ptr(),
                             input.numel(), c10::cuda::getCurrentCUDAStream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <typename Op>
void backward_out_cuda(const at::Tensor& grad, const at::Tensor& x, at::Tensor& grad_input) {
  check_backward_call<Op>(grad, x, grad_input);
  const c10::cuda::CUDAGuard device_guard(x.device());
  const at::Tensor input = x.contiguous();
  const at::Tensor grad_output = grad.contiguous();
  if (input.numel() > 0) {
    cuda::launch_backward<Op>(kernel_dtype(input.scalar_type()), grad_output.const_data_ptr(), input.const_data_ptr(),
                              grad_input.mutable_data_ptr(), input.numel(), c10::cuda::getCurrentCUDAStream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

template <typename Op>
at::Tensor forward_cuda(const at::Tensor& x) {
  at::Tensor output = at::empty_like(x, at::MemoryFormat::Contiguous);
  forward_out_cuda<Op>(x, output);
  return output;
}

template <typename Op>
at::Tensor backward_cuda(const at::Tensor& grad, const at::Tensor& x) {
  at::Tensor grad_input = at::empty_like(x, at::MemoryFormat::Contiguous);
  backward_out_cuda<Op>(grad, x, grad_input);
  return grad_input;
}

template <typename Op>
void implement_cuda(torch::Library& m) {
  bind_forward_and_backward<Op>(m, "", &forward_cuda<Op>, &backward_cuda<Op>);
  bind_forward_and_backward<Op>(m, ".out", &forward_out_cuda<Op>, &backward_out_cuda<Op>);
}

}  // namespace

#define OPBENCH_IMPLEMENT_CUDA(Op) implement_cuda<math::Op>(m);

TORCH_LIBRARY_IMPL(opbench, CUDA, m) { OPBENCH_ACTIVATIONS(OPBENCH_IMPLEMENT_CUDA) }

}  // namespace opbench

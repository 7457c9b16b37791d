// TORCH_LIBRARY_IMPL(opbench, CUDA): binds the kernels of gelu_kernel.cu to the ops declared in
// gelu.cpp, out= overloads included. Checks the arguments, makes inputs contiguous, allocates the
// output, launches on the current stream of the tensor's own device, and checks the launch.
#include <ATen/ATen.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "gelu_checks.h"
#include "gelu_kernel.h"

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
void gelu_out_cuda(const at::Tensor& x, at::Tensor& output) {
  check_gelu_input("opbench::gelu", x);
  check_gelu_output("opbench::gelu.out", output, x);
  const c10::cuda::CUDAGuard device_guard(x.device());
  const at::Tensor input = x.contiguous();
  if (input.numel() > 0) {
    cuda::launch_gelu_forward(kernel_dtype(input.scalar_type()), input.const_data_ptr(),
                              output.mutable_data_ptr(), input.numel(), c10::cuda::getCurrentCUDAStream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

void gelu_backward_out_cuda(const at::Tensor& grad, const at::Tensor& x, at::Tensor& grad_input) {
  check_gelu_backward_inputs("opbench::gelu_backward", grad, x);
  check_gelu_output("opbench::gelu_backward.out", grad_input, x);
  const c10::cuda::CUDAGuard device_guard(x.device());
  const at::Tensor input = x.contiguous();
  const at::Tensor grad_output = grad.contiguous();
  if (input.numel() > 0) {
    cuda::launch_gelu_backward(kernel_dtype(input.scalar_type()), grad_output.const_data_ptr(),
                               input.const_data_ptr(), grad_input.mutable_data_ptr(), input.numel(),
                               c10::cuda::getCurrentCUDAStream());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
}

at::Tensor gelu_cuda(const at::Tensor& x) {
  at::Tensor output = at::empty_like(x, at::MemoryFormat::Contiguous);
  gelu_out_cuda(x, output);
  return output;
}

at::Tensor gelu_backward_cuda(const at::Tensor& grad, const at::Tensor& x) {
  at::Tensor grad_input = at::empty_like(x, at::MemoryFormat::Contiguous);
  gelu_backward_out_cuda(grad, x, grad_input);
  return grad_input;
}

}  // namespace

TORCH_LIBRARY_IMPL(opbench, CUDA, m) {
  m.impl("gelu", &gelu_cuda);
  m.impl("gelu_backward", &gelu_backward_cuda);
  m.impl("gelu.out", &gelu_out_cuda);
  m.impl("gelu_backward.out", &gelu_backward_out_cuda);
}

}  // namespace opbench

// The launchers of the CUDA GELU kernels: plain C++ with CUDA runtime types only, so that
// gelu_kernel.cu compiles without the torch headers (about 28 s instead of 120 s on 2 cores).
#pragma once

#include <cuda_runtime_api.h>
#include <stdint.h>

namespace opbench {
namespace cuda {

enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16 };

// y = GELU(x) over n contiguous elements, on `stream`. Launch errors are left for the caller to check.
void launch_gelu_forward(DType dtype, const void* x, void* y, int64_t n, cudaStream_t stream);

// grad_input = grad * GELU'(x) over n contiguous elements, on `stream`.
void launch_gelu_backward(DType dtype, const void* grad, const void* x, void* grad_input, int64_t n,
                          cudaStream_t stream);

}  // namespace cuda
}  // namespace opbench

// The launchers of the CUDA activation kernels, one instantiation per functor of OPBENCH_ACTIVATIONS:
// plain C++ with CUDA runtime types only, so that activation_kernel.cu compiles without the torch
// headers (about 28 s instead of 120 s on 2 cores).
#pragma once

#include <cuda_runtime_api.h>
#include <stdint.h>

#include "activation_math.h"

namespace opbench {
namespace cuda {

enum class DType { kFloat32, kFloat64, kFloat16, kBFloat16 };

// y = Op::forward(x) over n contiguous elements, on `stream`. Launch errors are left for the caller to check.
template <typename Op>
void launch_forward(DType dtype, const void* x, void* y, int64_t n, cudaStream_t stream);

// grad_input = grad * Op::derivative(x) over n contiguous elements, on `stream`.
template <typename Op>
void launch_backward(DType dtype, const void* grad, const void* x, void* grad_input, int64_t n, cudaStream_t stream);

}  // namespace cuda
}  // namespace opbench

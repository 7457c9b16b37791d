// CUDA kernels of every activation's forward and backward: one grid-stride elementwise pass each, 128-bit
// loads and stores (elementwise_grid.h), the op's functor of activation_math.h in float (double for
// float64). CUDA headers only; csrc/activations_cuda.cpp binds them to the dispatcher.
#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <algorithm>

#include "activation_kernel.h"
#include "activation_math.h"
#include "elementwise_grid.h"

namespace opbench {
namespace cuda {
namespace {

constexpr int kThreadsPerBlock = 256;
// Enough resident blocks to fill every SM several times over; larger tensors loop (grid stride).
constexpr int kBlocksPerSM = 32;

// Storage type -> the type the math runs in, and back (half types compute in float).
__device__ __forceinline__ float to_opmath(float x) { return x; }
__device__ __forceinline__ double to_opmath(double x) { return x; }
__device__ __forceinline__ float to_opmath(__half x) { return __half2float(x); }
__device__ __forceinline__ float to_opmath(__nv_bfloat16 x) { return __bfloat162float(x); }

// The second argument only selects the storage type.
__device__ __forceinline__ float to_storage(float x, float) { return x; }
__device__ __forceinline__ double to_storage(double x, double) { return x; }
__device__ __forceinline__ __half to_storage(float x, __half) { return __float2half_rn(x); }
__device__ __forceinline__ __nv_bfloat16 to_storage(float x, __nv_bfloat16) { return __float2bfloat16_rn(x); }

template <typename Op, typename T>
struct Forward {
  __device__ T operator()(T x) const { return to_storage(Op::forward(to_opmath(x)), T{}); }
};

template <typename Op, typename T>
struct Backward {
  __device__ T operator()(T grad, T x) const {
    return to_storage(to_opmath(grad) * Op::derivative(to_opmath(x)), T{});
  }
};

// Asked for 8 resident blocks per SM, the forward kernels fit 32 registers without spilling, so 2048
// threads reside per SM instead of 1536: a third more 16-byte loads in flight. Asked the same, the
// backward ones would spill (half types) or lose registers they use well; 0 leaves them unconstrained.
template <int kInputs>
constexpr int kMinBlocksPerSM = kInputs == 1 ? 8 : 0;

template <int kInputs, typename T, typename Op>
__global__ void __launch_bounds__(kThreadsPerBlock, kMinBlocksPerSM<kInputs>)
    elementwise_kernel(int64_t n, Op op, T* out, const T* in0, const T* in1) {
  const T* const in[2] = {in0, in1};
  const int64_t thread = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  const int64_t threads = static_cast<int64_t>(gridDim.x) * blockDim.x;
  grid::elementwise_thread<kInputs>(thread, threads, n, op, out, in);
}

int grid_size(int64_t n, int width) {
  int device = 0;
  int sm_count = 1;
  cudaGetDevice(&device);
  cudaDeviceGetAttribute(&sm_count, cudaDevAttrMultiProcessorCount, device);
  const int64_t blocks_needed = (n / width + kThreadsPerBlock - 1) / kThreadsPerBlock;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(blocks_needed, int64_t{sm_count} * kBlocksPerSM)));
}

template <int kInputs, typename T, typename Op>
void launch(int64_t n, Op op, void* out, const void* in0, const void* in1, cudaStream_t stream) {
  const int blocks = grid_size(n, grid::kPackBytes / sizeof(T));
  elementwise_kernel<kInputs, T><<<blocks, kThreadsPerBlock, 0, stream>>>(
      n, op, static_cast<T*>(out), static_cast<const T*>(in0), static_cast<const T*>(in1));
}

// Calls body with a value of the storage type that `dtype` names.
template <typename Body>
void dispatch(DType dtype, Body body) {
  switch (dtype) {
    case DType::kFloat32: return body(float{});
    case DType::kFloat64: return body(double{});
    case DType::kFloat16: return body(__half{});
    case DType::kBFloat16: return body(__nv_bfloat16{});
  }
}

}  // namespace

template <typename Op>
void launch_forward(DType dtype, const void* x, void* y, int64_t n, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch<1, T>(n, Forward<Op, T>{}, y, x, nullptr, stream);
  });
}

template <typename Op>
void launch_backward(DType dtype, const void* grad, const void* x, void* grad_input, int64_t n, cudaStream_t stream) {
  dispatch(dtype, [&](auto tag) {
    using T = decltype(tag);
    launch<2, T>(n, Backward<Op, T>{}, grad_input, grad, x, stream);
  });
}

#define OPBENCH_INSTANTIATE(Op)                                                                            \
  template void launch_forward<math::Op>(DType, const void*, void*, int64_t, cudaStream_t);               \
  template void launch_backward<math::Op>(DType, const void*, const void*, void*, int64_t, cudaStream_t);
OPBENCH_ACTIVATIONS(OPBENCH_INSTANTIATE)

}  // namespace cuda
}  // namespace opbench

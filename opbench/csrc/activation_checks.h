// Argument checks shared by every activation kernel, forward and backward, out= overloads too: a bad
// call gets a message that names the op and the problem (dtype, device, shape), never a crash.
#pragma once

#include <ATen/ATen.h>

#include <string>

namespace opbench {

inline void check_input(const char* op, const at::Tensor& x) {
  const auto dtype = x.scalar_type();
  TORCH_CHECK(dtype == at::kFloat || dtype == at::kDouble || dtype == at::kHalf || dtype == at::kBFloat16,
              op, ": expected a float32, float64, float16 or bfloat16 tensor, got ", dtype);
}

inline void check_backward_inputs(const char* op, const at::Tensor& grad, const at::Tensor& x) {
  check_input(op, x);
  TORCH_CHECK(grad.sizes() == x.sizes(), op, ": grad has shape ", grad.sizes(), " but x has shape ", x.sizes());
  TORCH_CHECK(grad.scalar_type() == x.scalar_type(), op, ": grad is ", grad.scalar_type(), " but x is ",
              x.scalar_type());
  TORCH_CHECK(grad.device() == x.device(), op, ": grad is on ", grad.device(), " but x is on ", x.device());
}

// out= overloads write into the caller's tensor as it is: it must already have x's shape, dtype and
// device (no resizing: a kernel timed with a preallocated output allocates nothing) and be dense, in
// any order (no gaps, no element written twice).
inline void check_output(const char* op, const at::Tensor& out, const at::Tensor& x) {
  TORCH_CHECK(out.sizes() == x.sizes(), op, ": out has shape ", out.sizes(), " but x has shape ", x.sizes());
  TORCH_CHECK(out.scalar_type() == x.scalar_type(), op, ": out is ", out.scalar_type(), " but x is ", x.scalar_type());
  TORCH_CHECK(out.device() == x.device(), op, ": out is on ", out.device(), " but x is on ", x.device());
  TORCH_CHECK(out.is_non_overlapping_and_dense(), op, ": out must be dense (no gaps or overlaps between elements)");
}

// The checks of an op's out= kernels (every functional kernel calls one), in messages that name the op
// as the caller wrote it: opbench::<op>[_backward][.out].
template <typename Op>
void check_forward_call(const at::Tensor& x, const at::Tensor& output) {
  static const std::string op = std::string("opbench::") + Op::kName;
  static const std::string op_out = op + ".out";
  check_input(op.c_str(), x);
  check_output(op_out.c_str(), output, x);
}

template <typename Op>
void check_backward_call(const at::Tensor& grad, const at::Tensor& x, const at::Tensor& grad_input) {
  static const std::string op = std::string("opbench::") + Op::kName + "_backward";
  static const std::string op_out = op + ".out";
  check_backward_inputs(op.c_str(), grad, x);
  check_output(op_out.c_str(), grad_input, x);
}

}  // namespace opbench

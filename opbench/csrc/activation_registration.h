// Binding an activation op's kernels to its schema names, "<op>" and "<op>_backward" (Op::kName from
// activation_math.h) with an overload suffix: one spelling for the CPU and CUDA extensions and the
// tests' grid shim, so that a kernel cannot be bound under a name its schema does not have.
#pragma once

#include <torch/library.h>

#include <string>

namespace opbench {

template <typename Op, typename Forward, typename Backward>
void bind_forward_and_backward(torch::Library& m, const char* overload, Forward forward, Backward backward) {
  m.impl((std::string(Op::kName) + overload).c_str(), forward);
  m.impl((std::string(Op::kName) + "_backward" + overload).c_str(), backward);
}

}  // namespace opbench

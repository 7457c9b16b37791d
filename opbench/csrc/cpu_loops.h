// The CPU kernels' loops (activation_cpu.h) compiled for one instruction set, in namespace OPBENCH_ISA:
// each cpu_loops_<isa>.cpp includes this header under its own `#pragma GCC target`, so one source is
// the AVX-512, the AVX2 and the scalar code of one extension, and cpu_dispatch.h picks one at load time.
// Its caller includes activation_cpu.h before the pragma: the math's inline functions keep the default
// target (any copy g++ keeps out of line runs on every x86-64 CPU) and are inlined, always, into these
// loops, where they are vectorized for the loops' instruction set.
#ifndef OPBENCH_ISA
#error "cpu_loops.h: define OPBENCH_ISA, the namespace of one instruction set's loops, first"
#endif

#include <cstdint>

#include "activation_cpu.h"

namespace opbench {
namespace OPBENCH_ISA {

// TensorIterator's inner loop for one kernel: operand k at data[k], stepping strides[k] bytes, for n
// elements. A run contiguous in every operand goes to the kernel's vector loop (run); any other (the
// columns of a transposed view that TensorIterator could not reorder) element by element.
// Hidden: called through cpu_dispatch.h's table, never from outside the extension.
// The vector loop alone, out of line: inlined into loop() below, g++ allocates its registers worse
// (more instructions per element: python -m opbench.cpucost).
template <typename Kernel>
__attribute__((noinline)) void contiguous_run(char** data, int64_t n) {
  Kernel::run(data, n);
}

template <typename Kernel>
__attribute__((visibility("hidden"))) void loop(char** data, const int64_t* strides, int64_t n) {
  bool contiguous = true;
  for (int k = 0; k < Kernel::kOperands; ++k) {
    contiguous = contiguous && strides[k] == static_cast<int64_t>(sizeof(typename Kernel::scalar_t));
  }
  if (contiguous) {
    contiguous_run<Kernel>(data, n);
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    char* at[Kernel::kOperands];
    for (int k = 0; k < Kernel::kOperands; ++k) {
      at[k] = data[k] + i * strides[k];
    }
    Kernel::element(at);
  }
}

#define OPBENCH_INSTANTIATE_LOOP(Kernel, Op, scalar_t) \
  template void loop<Kernel<math::Op, scalar_t>>(char**, const int64_t*, int64_t);
#define OPBENCH_INSTANTIATE_UNARY(Op) OPBENCH_UNARY_KERNELS(OPBENCH_INSTANTIATE_LOOP, Op)
#define OPBENCH_INSTANTIATE_GATED(Op) OPBENCH_GATED_KERNELS(OPBENCH_INSTANTIATE_LOOP, Op)
OPBENCH_ACTIVATIONS(OPBENCH_INSTANTIATE_UNARY)
OPBENCH_GATED(OPBENCH_INSTANTIATE_GATED)
#undef OPBENCH_INSTANTIATE_GATED
#undef OPBENCH_INSTANTIATE_UNARY
#undef OPBENCH_INSTANTIATE_LOOP

}  // namespace OPBENCH_ISA
}  // namespace opbench

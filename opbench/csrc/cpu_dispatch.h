// Which instruction set's loops (cpu_loops.h) the CPU kernels run: the best this CPU supports, chosen
// when the extension loads, or the one opbench::set_cpu_isa names (OPBENCH_CPU_ISA, opbench/impls/cpp.py).
#pragma once

#include <cstdint>

#include "activation_cpu.h"

namespace opbench {

// Every instruction set the extension is compiled for (a cpu_loops_<isa>.cpp each), best first, as
// X(namespace, whether this CPU runs it). __builtin_cpu_supports also asks whether the OS saves the
// registers the level needs.
#if defined(__x86_64__)
#define OPBENCH_CPU_ISAS(X) \
  X(avx512, __builtin_cpu_supports("x86-64-v4")) X(avx2, __builtin_cpu_supports("x86-64-v3")) X(scalar, true)
#else
#define OPBENCH_CPU_ISAS(X) X(scalar, true)
#endif

#define OPBENCH_DECLARE_LOOP(isa, supported)                                                      \
  namespace isa {                                                                                 \
  template <typename Kernel>                                                                      \
  __attribute__((visibility("hidden"))) void loop(char** data, const int64_t* strides, int64_t n); \
  }  // hidden, as cpu_loops.h defines it
OPBENCH_CPU_ISAS(OPBENCH_DECLARE_LOOP)
#undef OPBENCH_DECLARE_LOOP

// TensorIterator's 1-D loop: operand k at data[k], stepping strides[k] bytes, n elements.
using Loop = void (*)(char** data, const int64_t* strides, int64_t n);

// The position in OPBENCH_CPU_ISAS of the instruction set whose loops run (cpu_dispatch.cpp).
int selected_cpu_isa();

// The loop of one kernel (activation_cpu.h: Forward<Op, scalar_t>, ...) in the selected instruction set.
template <typename Kernel>
Loop cpu_loop() {
#define OPBENCH_LOOP_OF(isa, supported) &isa::loop<Kernel>,
  static constexpr Loop kLoops[] = {OPBENCH_CPU_ISAS(OPBENCH_LOOP_OF)};
#undef OPBENCH_LOOP_OF
  return kLoops[selected_cpu_isa()];
}

}  // namespace opbench

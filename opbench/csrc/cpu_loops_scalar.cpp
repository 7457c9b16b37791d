// The CPU loops one element at a time, at the compiler's baseline target: the fallback for a CPU
// without AVX2 and, forced (OPBENCH_CPU_ISA=scalar), a floor to measure the vector loops against.
// Baseline x86-64 has no FMA instruction: there each fused multiply-add of activation_math.h is a call
// to libm's fma or fmaf (correctly rounded, so the same bits), which makes this floor lower than
// plain scalar code would be. On other architectures this is the only level, vectorized as the
// compiler sees fit.
#include "activation_cpu.h"

#if defined(__x86_64__)
#pragma GCC optimize("no-tree-vectorize")
#endif
#define OPBENCH_ISA scalar
#include "cpu_loops.h"

// The CPU loops for AVX2 (x86-64-v3: AVX2, FMA, F16C, BMI; Haswell and later, every Zen), in 256-bit
// vectors.
#include "activation_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>  // before the pragma: its intrinsics carry their own targets

// push/pop: nothing the compiler emits for this file outside its loops (its static initializers) is
// compiled for the target.
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v3")
#define OPBENCH_ISA avx2
#define OPBENCH_F16C 1
#include "cpu_loops.h"
#pragma GCC pop_options
#endif

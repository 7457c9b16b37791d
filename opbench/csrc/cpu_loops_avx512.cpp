// The CPU loops for AVX-512 (x86-64-v4: AVX512F/BW/CD/DQ/VL, Xeon since Skylake-SP, Zen 4), in 512-bit
// vectors: without prefer-vector-width=512 g++ keeps AVX-512 code at 256 bits.
#include "activation_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>  // before the pragma: its intrinsics carry their own targets

// push/pop: nothing the compiler emits for this file outside its loops (its static initializers) is
// compiled for the target.
#pragma GCC push_options
#pragma GCC target("arch=x86-64-v4,prefer-vector-width=512")
#define OPBENCH_ISA avx512
#define OPBENCH_F16C 1
#define OPBENCH_AVX512 1
#include "cpu_loops.h"
#pragma GCC pop_options
#endif

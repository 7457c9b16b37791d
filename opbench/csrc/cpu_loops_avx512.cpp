// The CPU loops for AVX-512 (x86-64-v4: AVX512F/BW/CD/DQ/VL, Xeon since Skylake-SP, Zen 4), in 512-bit
// vectors: without prefer-vector-width=512 g++ keeps AVX-512 code at 256 bits.
#include "activation_cpu.h"

#if defined(__x86_64__)
#include <immintrin.h>  // before the pragma: its intrinsics carry their own targets

#pragma GCC target("arch=x86-64-v4,prefer-vector-width=512")
#define OPBENCH_ISA avx512
#define OPBENCH_F16C 1
#include "cpu_loops.h"
#endif

// The CPU loops one element at a time, at the compiler's baseline target: the fallback for a CPU
// without AVX2 (and for any other architecture), and, forced, what vectorization is worth.
#include "activation_cpu.h"

#pragma GCC optimize("no-tree-vectorize")
#define OPBENCH_ISA scalar
#include "cpu_loops.h"

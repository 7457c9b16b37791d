// Explicit vector loops that replace the compiled loop over a functor's math (activation_cpu.h) for one
// kernel on one instruction set (VectorRun<Kernel>::kDefined), included by cpu_loops.h under its target:
// GELU's and GeGLU's float32 forwards and GELU's backward on AVX-512 from per-interval polynomials in
// float lanes.
//
// Why: in double lanes (activation_cpu.h's compute_type) GELU's accurate float32 forward costs several
// times the instructions of oneDNN's JIT kernel behind F.gelu (python -m opbench.cpucost), which is off
// by millions of ulps in the tail. Here x in (-4, 5.5] picks one of 32 intervals by j = trunc(4x) (one
// vpermt2ps per coefficient from 32-lane tables, as oneDNN's injector picks its erf polynomial), and
// GELU(c + t) = C0 + C1 t + t^2 Q(t) about the interval's middle c: t = x - c is exact (x and c are
// within a factor 2 of each other), C0 = GELU(c) and C1 = GELU'(c) are float pairs, Q has degree 5,
// fitted for least maximum relative error of the whole (scripts/fit_float_math.py gelu-table, which also
// runs this arithmetic on every interval). C0 + C1 t is summed exactly (the product's error from an FMA;
// Fast2Sum, as |C1 t| <= |C0| on every interval but the one about 0, where C0 = 0), t^2 Q rounded once
// (t^2 as a pair), the low parts in float, and the result is rounded once: 0.5 ulp plus the rest's
// rounding. Its sign is x's (GELU(-0) = -0); above 5.5 it is x. GeGLU's forward takes the value as a
// pair and multiplies it by up before its one rounding; GELU's backward takes GELU''s own tables (the
// same intervals, the two next to its zero expanded about it) as a pair times grad. The lanes outside
// are listed per block and computed together (in N(0, 1) inputs 0.003% of lanes, in the engine's
// N(0, 9) 9%): GELU's at or below -4 (where it decays too fast for an interval of this width) from
// exp(-x^2 / 2) and Mills' ratio in float lanes too (activation_math.h's gelu_below_tables); a nan or
// subnormal x (where 0.5 x rounds), a GeGLU gate or a backward's x below -4, or a product that is 0,
// tiny or not finite from the double lanes. Each element's value depends on its inputs alone: the same
// bits in every layout (strided operands pass through buffers, cpu_loops.h), which the tests hold.
// AVX2 has no two-register permute (a 32-lane lookup is four permutes and three blends) nor compress
// instructions: there the same tables were slower than the double lanes (docs/methodology.md), which
// the AVX2 and scalar loops keep: other bits, the same budgets.
#pragma once

#include <stdint.h>
#include <string.h>

#include "activation_cpu.h"

namespace opbench {
namespace OPBENCH_ISA {

template <typename Kernel>
struct VectorRun {
  static constexpr bool kDefined = false;
};

#if OPBENCH_AVX512
// The vector of 16 floats, its lane indices and its lane mask, and the operations the tables need. The
// arithmetic is GCC's vector extensions (+, -, * on __m512 as on float).
using Floats = __m512;
using Lanes = __m512i;
using Mask = __mmask16;
OPBENCH_HD Floats splat(float value) { return _mm512_set1_ps(value); }
OPBENCH_HD Floats load(const float* from) { return _mm512_loadu_ps(from); }
OPBENCH_HD void store(float* to, Floats value) { _mm512_storeu_ps(to, value); }
OPBENCH_HD Floats multiply_add(Floats a, Floats b, Floats c) { return _mm512_fmadd_ps(a, b, c); }
// 32 entries in two registers, indexed by the low 5 bits of each lane.
OPBENCH_HD Floats lookup(const float* table, Lanes lane) {
  return _mm512_permutex2var_ps(_mm512_load_ps(table), lane, _mm512_load_ps(table + 16));
}
OPBENCH_HD Lanes truncated(Floats x) { return _mm512_cvttps_epi32(x); }
// |y| with x's sign bit: ternary-logic 0xd8 takes the second operand's bits where the third's are set.
OPBENCH_HD Floats with_sign_of(Floats y, Floats x) {
  const __m512i sign = _mm512_set1_epi32(int32_t(0x80000000u));
  return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(_mm512_castps_si512(y), _mm512_castps_si512(x), sign, 0xd8));
}
// The lanes of one vector outside the tables (x outside their mask): appended to the block's list of
// values from count on, no branch per lane; the new count. Compressed in registers and stored whole
// (the list has a vector of room beyond the block for the lanes past the count), where a compress
// store to memory is a slower instruction.
OPBENCH_HD int note_outside(Mask outside, const float* x, float* values, int count) {
  store(values + count, _mm512_maskz_compress_ps(outside, load(x)));
  return count + __builtin_popcount(outside);
}
// The inverse: the vector y with its lanes outside replaced by the list's values from taken on.
OPBENCH_HD void put_back(Mask outside, float* y, const float* values, int taken) {
  store(y, _mm512_mask_expand_ps(load(y), outside, load(values + taken)));
}
constexpr int kVectorFloats = sizeof(Floats) / sizeof(float);

// GELU's tables, lane j mod 32 for the interval j = min(trunc(4x), 16), in [-15, 16] for x in (-4, 5.5]:
// intervals of width 1/4 from -4 to 4 (the middle one, trunc(4x) = 0, is (-1/4, 1/4)), then [4, 5.5];
// below -4 the value decays too fast for this width, above 5.5 GELU(x) rounds to x. Rows: the middle c, C0 high and low, C1 high and low, then Q's coefficients from t^0 (C2)
// up.
// scripts/fit_float_math.py gelu-table 7 prints it.
alignas(64) constexpr float kGeluTable[11][32] = {
    // middle c
    {0.0f, 0x1.800000p-2f, 0x1.400000p-1f, 0x1.c00000p-1f, 0x1.200000p+0f, 0x1.600000p+0f, 0x1.a00000p+0f,
     0x1.e00000p+0f, 0x1.100000p+1f, 0x1.300000p+1f, 0x1.500000p+1f, 0x1.700000p+1f, 0x1.900000p+1f,
     0x1.b00000p+1f, 0x1.d00000p+1f, 0x1.f00000p+1f, 0x1.300000p+2f, -0x1.f00000p+1f, -0x1.d00000p+1f,
     -0x1.b00000p+1f, -0x1.900000p+1f, -0x1.700000p+1f, -0x1.500000p+1f, -0x1.300000p+1f, -0x1.100000p+1f,
     -0x1.e00000p+0f, -0x1.a00000p+0f, -0x1.600000p+0f, -0x1.200000p+0f, -0x1.c00000p-1f, -0x1.400000p-1f,
     -0x1.800000p-2f},
    // C0 high
    {0.0f, 0x1.f04226p-3f, 0x1.d5c4eep-2f, 0x1.6a8706p-1f, 0x1.f4f34ap-1f, 0x1.423b9ep+0f, 0x1.8a558ep+0f,
     0x1.d168e6p+0f, 0x1.0b6ea6p+1f, 0x1.2d5522p+1f, 0x1.4e8b58p+1f, 0x1.6f41b0p+1f, 0x1.8fa4f6p+1f,
     0x1.afd72ep+1f, 0x1.cfeed6p+1f, 0x1.eff93cp+1f, 0x1.2fffecp+2f, -0x1.b13dacp-13f, -0x1.12978cp-11f,
     -0x1.468978p-10f, -0x1.6c2510p-9f, -0x1.7ca050p-8f, -0x1.74a8eep-7f, -0x1.556eb0p-6f, -0x1.245680p-5f,
     -0x1.d2e35cp-5f, -0x1.5aa72ap-4f, -0x1.dc462ep-4f, -0x1.2c32d6p-3f, -0x1.55e3e6p-3f, -0x1.547624p-3f,
     -0x1.0fbddap-3f},
    // C0 low
    {0.0f, -0x1.82dc36p-28f, 0x1.434408p-28f, 0x1.497b7ep-26f, 0x1.5738cap-26f, -0x1.d29e92p-25f,
     -0x1.576c14p-25f, -0x1.b9df38p-25f, 0x1.91a8f8p-30f, 0x1.3f81f0p-24f, -0x1.db94aap-24f, -0x1.4134e0p-26f,
     0x1.786c02p-24f, 0x1.a1de60p-24f, 0x1.0e86e8p-24f, -0x1.ed5844p-24f, -0x1.0d9c8cp-24f, 0x1.ef101ep-38f,
     0x1.b9be30p-38f, -0x1.0cfff2p-35f, 0x1.b00a5ep-34f, -0x1.34df0cp-34f, 0x1.ad59a8p-34f, -0x1.f8414ap-34f,
     0x1.91a8fap-30f, 0x1.88323ap-31f, -0x1.76c134p-29f, -0x1.29e91ap-29f, 0x1.5ce326p-28f, 0x1.25edfcp-28f,
     0x1.434408p-28f, -0x1.82dc36p-28f},
    // C1 high
    {0x1.000000p-1f, 0x1.923c30p-1f, 0x1.e0d3b0p-1f, 0x1.0c194ep+0f, 0x1.1baa42p+0f, 0x1.20ea5ep+0f,
     0x1.1efcb4p+0f, 0x1.193c66p+0f, 0x1.1265aap+0f, 0x1.0c3502p+0f, 0x1.077108p+0f, 0x1.04311ep+0f,
     0x1.0230b2p+0f, 0x1.011072p+0f, 0x1.007b58p+0f, 0x1.00341ap+0f, 0x1.000180p+0f, -0x1.a0d580p-11f,
     -0x1.ed62c0p-10f, -0x1.107234p-8f, -0x1.185900p-7f, -0x1.0c4774p-6f, -0x1.dc423ep-6f, -0x1.86a028p-5f,
     -0x1.265aa4p-4f, -0x1.93c66cp-4f, -0x1.efcb36p-4f, -0x1.0752eep-3f, -0x1.baa428p-4f, -0x1.8329dcp-5f,
     0x1.f2c4f0p-5f, 0x1.b70f42p-3f},
    // C1 low
    {0.0f, -0x1.295fd2p-26f, 0x1.ef79a4p-26f, 0x1.bd4d0ep-25f, 0x1.0cfb7ep-25f, -0x1.21062cp-26f,
     -0x1.411db6p-25f, 0x1.9fafbap-25f, 0x1.1f873cp-26f, -0x1.882adcp-25f, 0x1.f5076ap-25f, -0x1.65578ep-27f,
     -0x1.e4c150p-32f, 0x1.a2d1c8p-27f, 0x1.606f40p-25f, 0x1.602404p-25f, -0x1.038a3cp-26f, -0x1.2025f4p-36f,
     -0x1.bcfd14p-35f, -0x1.68e412p-34f, 0x1.e4c158p-32f, -0x1.aa8718p-31f, -0x1.41dab6p-31f, 0x1.055b6ap-30f,
     -0x1.f873aep-30f, -0x1.fafb98p-29f, 0x1.1db57cp-33f, 0x1.083158p-29f, -0x1.9f6fd6p-30f, 0x1.5978a2p-32f,
     0x1.0865c2p-30f, 0x1.4afe92p-29f},
    // C2
    {0x1.988452p-2f, 0x1.62018cp-2f, 0x1.0e6796p-2f, 0x1.57e0a6p-3f, 0x1.3ea998p-4f, 0x1.15c830p-7f,
     -0x1.178e72p-5f, -0x1.ab0674p-5f, -0x1.ade49ep-5f, -0x1.627c90p-5f, -0x1.fdc818p-6f, -0x1.486718p-6f,
     -0x1.808726p-7f, -0x1.9cadaap-8f, -0x1.982d72p-9f, -0x1.757e6ep-10f, -0x1.b2a78ap-15f, -0x1.757e6ep-10f,
     -0x1.982d72p-9f, -0x1.9cadaap-8f, -0x1.808726p-7f, -0x1.486718p-6f, -0x1.fdc818p-6f, -0x1.627c90p-5f,
     -0x1.ade49ep-5f, -0x1.ab0674p-5f, -0x1.178e72p-5f, 0x1.15c830p-7f, 0x1.3ea998p-4f, 0x1.57e0a6p-3f,
     0x1.0e6796p-2f, 0x1.62018cp-2f},
    // C3
    {0x1.964f62p-25f, -0x1.6f6490p-4f, -0x1.f95e2ep-4f, -0x1.06ce1ep-3f, -0x1.bcf0e2p-4f, -0x1.32ec9ep-4f,
     -0x1.4151c6p-5f, -0x1.552e10p-7f, 0x1.f35118p-8f, 0x1.f9ddb6p-7f, 0x1.07a522p-6f, 0x1.ac8540p-7f,
     0x1.2963e4p-7f, 0x1.6d629ap-8f, 0x1.94abccp-9f, 0x1.984c7ap-10f, 0x1.363a7ap-14f, -0x1.984c7cp-10f,
     -0x1.94abcep-9f, -0x1.6d629ap-8f, -0x1.2963e4p-7f, -0x1.ac8540p-7f, -0x1.07a522p-6f, -0x1.f9ddb4p-7f,
     -0x1.f35114p-8f, 0x1.552e10p-7f, 0x1.4151c6p-5f, 0x1.32ec9ep-4f, 0x1.bcf0e2p-4f, 0x1.06ce1cp-3f,
     0x1.f95e2ep-4f, 0x1.6f6490p-4f},
    // C4
    {-0x1.105426p-4f, -0x1.814594p-5f, -0x1.3db72ep-6f, 0x1.1f3150p-7f, 0x1.d72cb4p-6f, 0x1.2b783ap-5f,
     0x1.1127b6p-5f, 0x1.8364e0p-6f, 0x1.9b30fcp-7f, 0x1.dc2d36p-9f, -0x1.c32caap-10f, -0x1.f94e8ap-9f,
     -0x1.ffcec0p-9f, -0x1.8b9a1ep-9f, -0x1.029578p-9f, -0x1.296278p-10f, -0x1.3315dap-14f, -0x1.296270p-10f,
     -0x1.029570p-9f, -0x1.8b9a12p-9f, -0x1.ffceb2p-9f, -0x1.f94e88p-9f, -0x1.c32cbcp-10f, 0x1.dc2d1cp-9f,
     0x1.9b30f2p-7f, 0x1.8364dcp-6f, 0x1.1127b4p-5f, 0x1.2b7838p-5f, 0x1.d72cb0p-6f, 0x1.1f3144p-7f,
     -0x1.3db72ep-6f, -0x1.814590p-5f},
    // C5
    {-0x1.3e7ab0p-19f, 0x1.399ec6p-6f, 0x1.840060p-6f, 0x1.4a5b72p-6f, 0x1.71b448p-7f, 0x1.6a192cp-10f,
     -0x1.812f6ap-8f, -0x1.24becap-7f, -0x1.111b34p-7f, -0x1.791b48p-8f, -0x1.785deap-9f, -0x1.71cdb0p-11f,
     0x1.eaac1ep-12f, 0x1.bbf46cp-11f, 0x1.987262p-11f, 0x1.2236c4p-11f, 0x1.cedc3cp-15f, -0x1.22351cp-11f,
     -0x1.986ecep-11f, -0x1.bbef44p-11f, -0x1.eaa2a6p-12f, 0x1.71ce52p-11f, 0x1.785c20p-9f, 0x1.791954p-8f,
     0x1.111a00p-7f, 0x1.24bdf8p-7f, 0x1.812fc2p-8f, -0x1.6a0e38p-10f, -0x1.71b232p-7f, -0x1.4a5a8cp-6f,
     -0x1.840020p-6f, -0x1.399f62p-6f},
    // C6
    {0x1.42a494p-7f, 0x1.78170ep-8f, 0x1.c6514ep-13f, -0x1.2a8550p-8f, -0x1.b8d584p-8f, -0x1.89df96p-8f,
     -0x1.c7e20ep-9f, -0x1.629890p-11f, 0x1.497e36p-10f, 0x1.0246c0p-9f, 0x1.ca3160p-10f, 0x1.22f40cp-10f,
     0x1.fa11c0p-12f, 0x1.1ace7ap-14f, -0x1.fe8808p-14f, -0x1.4e24e6p-13f, -0x1.26831ep-15f, -0x1.4e2f16p-13f,
     -0x1.feb6b4p-14f, 0x1.1a87cep-14f, 0x1.f9ffeep-12f, 0x1.22f35ep-10f, 0x1.ca344cp-10f, 0x1.024af2p-9f,
     0x1.49897ap-10f, -0x1.6284f6p-11f, -0x1.c7e0ccp-9f, -0x1.89de44p-8f, -0x1.b8d2fcp-8f, -0x1.2a81bap-8f,
     0x1.c65014p-13f, 0x1.781146p-8f},
    // C7
    {0x1.c1c330p-16f, -0x1.76e770p-9f, -0x1.a0e88cp-9f, -0x1.132cdap-9f, -0x1.8593d0p-12f, 0x1.1870f4p-10f,
     0x1.b4751ap-10f, 0x1.75ec36p-10f, 0x1.8b4538p-11f, 0x1.8d1394p-14f, -0x1.35b21ep-12f, -0x1.9b0828p-12f,
     -0x1.416d12p-12f, -0x1.60414ep-13f, -0x1.d7d91cp-15f, 0x1.51b460p-18f, 0x1.ce28e8p-17f, -0x1.74de86p-18f,
     0x1.ce5a3ap-15f, 0x1.5cd5e8p-13f, 0x1.3fdb5ap-12f, 0x1.9ad10cp-12f, 0x1.380dd8p-12f, -0x1.786c96p-14f,
     -0x1.881804p-11f, -0x1.74d8a2p-10f, -0x1.b4b018p-10f, -0x1.1a3d9cp-10f, 0x1.7aa38ap-12f, 0x1.11fe9ep-9f,
     0x1.a094ecp-9f, 0x1.77b87ap-9f},
};
constexpr float kGeluTableLow = -4.0f, kGeluTableEnd = 5.5f;

// GELU''s tables for the backward, grad * GELU'(x): the same intervals and rows, Q of degree 6 (8 in
// all), and two differences. The two intervals next to GELU''s zero at x = -0.7518 are expanded about
// that zero (their c, the float nearest it; C0 = GELU'(c), below 1e-8, in the low row), where C0 + C1 t
// about their middles would cancel and t^2 Q's rounding be a large part of a small value. The last
// interval is [4, 6.25]: from 6.25 on GELU'(x) - 1 is below 2^-27, and grad * GELU'(x) rounds to grad.
// scripts/fit_float_math.py gelu-derivative-table 8 prints it (0.762 ulp at most, on its samples).
alignas(64) constexpr float kGeluDerivativeTable[12][32] = {
    // middle c
    {0.0f, 0x1.800000p-2f, 0x1.400000p-1f, 0x1.c00000p-1f, 0x1.200000p+0f, 0x1.600000p+0f, 0x1.a00000p+0f,
     0x1.e00000p+0f, 0x1.100000p+1f, 0x1.300000p+1f, 0x1.500000p+1f, 0x1.700000p+1f, 0x1.900000p+1f,
     0x1.b00000p+1f, 0x1.d00000p+1f, 0x1.f00000p+1f, 0x1.480000p+2f, -0x1.f00000p+1f, -0x1.d00000p+1f,
     -0x1.b00000p+1f, -0x1.900000p+1f, -0x1.700000p+1f, -0x1.500000p+1f, -0x1.300000p+1f, -0x1.100000p+1f,
     -0x1.e00000p+0f, -0x1.a00000p+0f, -0x1.600000p+0f, -0x1.200000p+0f, -0x1.80ead2p-1f, -0x1.80ead2p-1f,
     -0x1.800000p-2f},
    // C0 high
    {0x1.000000p-1f, 0x1.923c30p-1f, 0x1.e0d3b0p-1f, 0x1.0c194ep+0f, 0x1.1baa42p+0f, 0x1.20ea5ep+0f,
     0x1.1efcb4p+0f, 0x1.193c66p+0f, 0x1.1265aap+0f, 0x1.0c3502p+0f, 0x1.077108p+0f, 0x1.04311ep+0f,
     0x1.0230b2p+0f, 0x1.011072p+0f, 0x1.007b58p+0f, 0x1.00341ap+0f, 0x1.000042p+0f, -0x1.a0d580p-11f,
     -0x1.ed62c0p-10f, -0x1.107234p-8f, -0x1.185900p-7f, -0x1.0c4774p-6f, -0x1.dc423ep-6f, -0x1.86a028p-5f,
     -0x1.265aa4p-4f, -0x1.93c66cp-4f, -0x1.efcb36p-4f, -0x1.0752eep-3f, -0x1.baa428p-4f, 0.0f, 0.0f,
     0x1.b70f42p-3f},
    // C0 low
    {0.0f, -0x1.295fd2p-26f, 0x1.ef79a4p-26f, 0x1.bd4d0ep-25f, 0x1.0cfb7ep-25f, -0x1.21062cp-26f,
     -0x1.411db6p-25f, 0x1.9fafbap-25f, 0x1.1f873cp-26f, -0x1.882adcp-25f, 0x1.f5076ap-25f, -0x1.65578ep-27f,
     -0x1.e4c150p-32f, 0x1.a2d1c8p-27f, 0x1.606f40p-25f, 0x1.602404p-25f, -0x1.356ec8p-25f, -0x1.2025f4p-36f,
     -0x1.bcfd14p-35f, -0x1.68e412p-34f, 0x1.e4c158p-32f, -0x1.aa8718p-31f, -0x1.41dab6p-31f, 0x1.055b6ap-30f,
     -0x1.f873aep-30f, -0x1.fafb98p-29f, 0x1.1db57cp-33f, 0x1.083158p-29f, -0x1.9f6fd6p-30f, -0x1.6737d8p-28f,
     -0x1.6737d8p-28f, 0x1.4afe92p-29f},
    // C1 high
    {0x1.988454p-1f, 0x1.62018cp-1f, 0x1.0e6796p-1f, 0x1.57e0a6p-2f, 0x1.3ea998p-3f, 0x1.15c830p-6f,
     -0x1.178e72p-4f, -0x1.ab0674p-4f, -0x1.ade49ep-4f, -0x1.627c90p-4f, -0x1.fdc818p-5f, -0x1.486718p-5f,
     -0x1.808726p-6f, -0x1.9cadaap-7f, -0x1.982d72p-8f, -0x1.757e6ep-9f, -0x1.417334p-16f, -0x1.757e6ep-9f,
     -0x1.982d72p-8f, -0x1.9cadaap-7f, -0x1.808726p-6f, -0x1.486718p-5f, -0x1.fdc818p-5f, -0x1.627c90p-4f,
     -0x1.ade49ep-4f, -0x1.ab0674p-4f, -0x1.178e72p-4f, 0x1.15c830p-6f, 0x1.3ea998p-3f, 0x1.b9d990p-2f,
     0x1.b9d990p-2f, 0x1.62018cp-1f},
    // C1 low
    {-0x1.857936p-26f, 0x1.cdf282p-27f, 0x1.723fe8p-27f, -0x1.f79a14p-27f, -0x1.6c4e14p-33f, -0x1.6d2792p-33f,
     0x1.7f6fbep-29f, 0x1.e25712p-30f, 0x1.ff03dap-31f, -0x1.b1307cp-29f, 0x1.3c7362p-31f, -0x1.39a9b0p-30f,
     -0x1.68b970p-31f, 0x1.2a46d8p-33f, -0x1.683dd6p-34f, -0x1.59d734p-35f, 0x1.706ef4p-43f, -0x1.59d734p-35f,
     -0x1.683dd6p-34f, 0x1.2a46d8p-33f, -0x1.68b970p-31f, -0x1.39a9b0p-30f, 0x1.3c7362p-31f, -0x1.b1307cp-29f,
     0x1.ff03dap-31f, 0x1.e25712p-30f, 0x1.7f6fbep-29f, -0x1.6d2792p-33f, -0x1.6c4e14p-33f, -0x1.f7f8e6p-27f,
     -0x1.f7f8e6p-27f, 0x1.cdf282p-27f},
    // C2
    {0x1.47761cp-29f, -0x1.138b6cp-2f, -0x1.7b06a2p-2f, -0x1.8a352cp-2f, -0x1.4db4aap-2f, -0x1.cc62ecp-3f,
     -0x1.e1faa8p-4f, -0x1.ffc518p-6f, 0x1.767cd0p-6f, 0x1.7b6648p-5f, 0x1.8b77b2p-5f, 0x1.4163f0p-5f,
     0x1.be15d6p-6f, 0x1.1209f4p-6f, 0x1.2f80dap-7f, 0x1.32395cp-8f, 0x1.7a53c6p-15f, -0x1.32395cp-8f,
     -0x1.2f80dap-7f, -0x1.1209f4p-6f, -0x1.be15d6p-6f, -0x1.4163f0p-5f, -0x1.8b77b2p-5f, -0x1.7b6648p-5f,
     -0x1.767cd0p-6f, 0x1.ffc518p-6f, 0x1.e1faa8p-4f, 0x1.cc62ecp-3f, 0x1.4db4aap-2f, 0x1.8d9a94p-2f,
     0x1.8d9a94p-2f, 0x1.138b6cp-2f},
    // C3
    {-0x1.105832p-2f, -0x1.8145dap-3f, -0x1.3db6eap-4f, 0x1.1f330ap-5f, 0x1.d72da8p-4f, 0x1.2b7884p-3f,
     0x1.1127bep-3f, 0x1.836492p-4f, 0x1.9b302ap-5f, 0x1.dc2ac2p-7f, -0x1.c32ebap-8f, -0x1.f94e76p-7f,
     -0x1.ffce28p-7f, -0x1.8b9984p-7f, -0x1.029516p-7f, -0x1.296220p-8f, -0x1.1a2b7ep-14f, -0x1.296220p-8f,
     -0x1.029516p-7f, -0x1.8b9984p-7f, -0x1.ffce28p-7f, -0x1.f94e76p-7f, -0x1.c32ebap-8f, 0x1.dc2ac2p-7f,
     0x1.9b302ap-5f, 0x1.836492p-4f, 0x1.1127bep-3f, 0x1.2b7884p-3f, 0x1.d72da8p-4f, -0x1.2a2ee4p-6f,
     -0x1.2a2eecp-6f, -0x1.8145dap-3f},
    // C4
    {-0x1.0ffb94p-22f, 0x1.8808b6p-4f, 0x1.e500ccp-4f, 0x1.9cf1aep-4f, 0x1.ce1f72p-5f, 0x1.c49240p-8f,
     -0x1.e17d14p-6f, -0x1.6deea8p-5f, -0x1.5561acp-5f, -0x1.d76124p-6f, -0x1.d673e8p-7f, -0x1.ce3e72p-9f,
     0x1.32abcap-9f, 0x1.157844p-8f, 0x1.fe8dd8p-9f, 0x1.6ac3b2p-9f, 0x1.269cfep-14f, -0x1.6ac3b2p-9f,
     -0x1.fe8dd8p-9f, -0x1.157842p-8f, -0x1.32abc4p-9f, 0x1.ce3e78p-9f, 0x1.d673e8p-7f, 0x1.d76124p-6f,
     0x1.5561acp-5f, 0x1.6deea6p-5f, 0x1.e17d14p-6f, -0x1.c49240p-8f, -0x1.ce1f74p-5f, -0x1.d2f9c2p-4f,
     -0x1.d2fa98p-4f, -0x1.8808b8p-4f},
    // C5
    {0x1.ea2c40p-5f, 0x1.1ad5f2p-5f, 0x1.49bf84p-10f, -0x1.c21140p-6f, -0x1.4be17ap-5f, -0x1.282d84p-5f,
     -0x1.561952p-6f, -0x1.06c71ap-8f, 0x1.f285b8p-8f, 0x1.8503dcp-7f, 0x1.58521ep-7f, 0x1.b4539ap-8f,
     0x1.7a0340p-9f, 0x1.9babb6p-12f, -0x1.82f7fap-11f, -0x1.f6fe4ep-11f, -0x1.c97666p-15f, -0x1.f6fe4ap-11f,
     -0x1.82f7fap-11f, 0x1.9babacp-12f, 0x1.7a033ep-9f, 0x1.b45398p-8f, 0x1.58521ep-7f, 0x1.8503dcp-7f,
     0x1.f285bap-8f, -0x1.06c71ap-8f, -0x1.561952p-6f, -0x1.282d84p-5f, -0x1.4be17ap-5f, -0x1.e3c2bep-7f,
     -0x1.e3dfecp-7f, 0x1.1ad5f2p-5f},
    // C6
    {0x1.ebb364p-18f, -0x1.4ad4a8p-6f, -0x1.6dca60p-6f, -0x1.e106e8p-7f, -0x1.4ca49ep-9f, 0x1.ef841cp-8f,
     0x1.7f8efcp-7f, 0x1.47bfe8p-7f, 0x1.59305ap-8f, 0x1.4ff6ecp-11f, -0x1.1181f4p-9f, -0x1.68f5bep-9f,
     -0x1.197ad8p-9f, -0x1.3385dcp-10f, -0x1.992a06p-12f, 0x1.3ca632p-15f, 0x1.1b2f1ep-15f, -0x1.3c9ec8p-15f,
     0x1.992a74p-12f, 0x1.3383d6p-10f, 0x1.197898p-9f, 0x1.68f326p-9f, 0x1.1180cap-9f, -0x1.4ff06ap-11f,
     -0x1.592e6ep-8f, -0x1.47bf02p-7f, -0x1.7f8eb6p-7f, -0x1.ef83fcp-8f, 0x1.4cad40p-9f, 0x1.3f622cp-6f,
     0x1.3d7bd8p-6f, 0x1.4ad660p-6f},
    // C7
    {-0x1.327588p-7f, -0x1.1c56dap-8f, 0x1.eb8b90p-10f, 0x1.9b4acep-8f, 0x1.c329f8p-8f, 0x1.15d962p-8f,
     0x1.12151ep-11f, -0x1.1a309cp-9f, -0x1.7e58c6p-9f, -0x1.1e2ad4p-9f, -0x1.e4e38cp-11f, 0x1.2fe320p-14f,
     0x1.11f698p-11f, 0x1.177db8p-11f, 0x1.6b6a42p-12f, 0x1.3de0dap-13f, -0x1.0a4ea2p-16f, 0x1.3ddeaep-13f,
     0x1.6b6a34p-12f, 0x1.177e7cp-11f, 0x1.11f84ap-11f, 0x1.2ff15cp-14f, -0x1.e4e296p-11f, -0x1.1e2afep-9f,
     -0x1.7e58f6p-9f, -0x1.1a3096p-9f, 0x1.12158cp-11f, 0x1.15d944p-8f, 0x1.c32954p-8f, 0x1.3fcdb0p-8f,
     0x1.38164ap-8f, -0x1.1c5742p-8f},
    // C8
    {-0x1.076c28p-14f, 0x1.8649ccp-9f, 0x1.7e70d4p-9f, 0x1.586a86p-10f, -0x1.53df7cp-11f, -0x1.d7234ap-10f,
     -0x1.c62e06p-10f, -0x1.c84888p-11f, 0x1.11b0e0p-14f, 0x1.308eb6p-11f, 0x1.3f88bap-11f, 0x1.7ee70ep-12f,
     0x1.93f2d6p-14f, -0x1.0c427ap-14f, -0x1.bec0ecp-14f, -0x1.590d92p-14f, 0x1.02f498p-18f, 0x1.588682p-14f,
     0x1.be8a26p-14f, 0x1.10a31ep-14f, -0x1.8a5294p-14f, -0x1.7c1d22p-12f, -0x1.3ee7bep-11f, -0x1.316d7cp-11f,
     -0x1.22349ap-14f, 0x1.c65b1ep-11f, 0x1.c5e3d6p-10f, 0x1.d7124ep-10f, 0x1.4f3cf6p-11f, -0x1.734208p-10f,
     -0x1.74d514p-9f, -0x1.88208ep-9f},
};
constexpr float kGeluDerivativeTableEnd = 6.25f;

// The lanes the tables compute: x above the tables' lowest interval (not nan) and not subnormal (where
// 0.5 x rounds, and a tie would round to even where GELU's value, just above it, rounds away; GELU''s
// tables share the mask, a subnormal x being rare).
OPBENCH_HD Mask in_tables(Floats x) {
  return _mm512_cmp_ps_mask(x, splat(kGeluTableLow), _CMP_GT_OQ) &
         static_cast<Mask>(~_mm512_fpclass_ps_mask(x, 0x20));  // 0x20: subnormal
}

// A value as hi + lo, hi rounded once and lo the part of the unrounded value below it.
struct Pair {
  Floats hi, lo;
};

// A table's value (GELU's, GELU''s) at x as a Pair, for the lanes in_tables below the table's end: C0 +
// C1 t summed exactly as s + s_lo, t^2 as a pair (the FMA gives its error) so that t^2 Q is rounded once,
// and the low parts (C0's, C1's times t, the pairs' errors: a small fraction of the result) added in
// float, to a rest that s + rest rounds. A product (GeGLU's by up, the backward's by grad) multiplies
// the pair before its one rounding: lo must be small there, not the rest (a quarter of the value about
// -1/4, whose product's rounding cost 0.125 ulp).
template <int kRows>
OPBENCH_HD Pair table_pair(const float (&table)[kRows][32], Floats x) {
  // The lane is j mod 32 (the permute reads the index's low 5 bits): j below -15 is outside the tables
  // (the lane's value is replaced), above 16 it is the last interval's.
  const Lanes lane = _mm512_min_epi32(truncated(x * splat(4.0f)), _mm512_set1_epi32(16));
  const auto row = [&](int k) { return lookup(table[k], lane); };
  const Floats t = x - row(0);
  Floats q = row(kRows - 1);
  for (int k = kRows - 2; k >= 5; --k) {
    q = multiply_add(q, t, row(k));
  }
  const Floats c0 = row(1), c1 = row(3);
  const Floats p = c1 * t;
  const Floats p_lo = multiply_add(c1, t, -p);  // C1 t - p, exactly
  const Floats s = c0 + p;
  const Floats s_lo = p - (s - c0);  // C0 + p - s, exactly (Fast2Sum: |C0| >= |C1 t|, or C0 = 0)
  const Floats t2 = t * t;
  const Floats t2_lo = multiply_add(t, t, -t2);  // t^2 - t2, exactly
  const Floats low_parts = multiply_add(row(4), t, row(2) + p_lo);  // C1 low t + C0 low + p_lo
  const Floats rest = s_lo + multiply_add(t2, q, multiply_add(t2_lo, q, low_parts));
  const Floats hi = s + rest;  // the value rounded once
  const Floats lo = rest - (hi - s);  // s + rest - hi (Fast2Sum: |rest| < |s|), below half an ulp of hi
  return {hi, lo};
}

// The pair's value where x is above a table's end, where the function rounds to `beyond` (x for GELU,
// 1 for GELU').
OPBENCH_HD Pair beyond_end(Pair value, Floats x, float end, Floats beyond) {
  const Mask above = _mm512_cmp_ps_mask(x, splat(end), _CMP_GT_OQ);
  return {_mm512_mask_blend_ps(above, value.hi, beyond), _mm512_maskz_mov_ps(static_cast<Mask>(~above), value.lo)};
}
OPBENCH_HD Pair gelu_pair(Floats x) { return beyond_end(table_pair(kGeluTable, x), x, kGeluTableEnd, x); }
OPBENCH_HD Pair gelu_derivative_pair(Floats x) {
  return beyond_end(table_pair(kGeluDerivativeTable, x), x, kGeluDerivativeTableEnd, splat(1.0f));
}

// value * factor rounded once: hi factor exactly as a pair (an FMA), plus lo factor. Lanes whose hi factor
// is 0, below 2^-100 (lo factor would lose bits among the subnormals), infinite or nan are outside (the
// double lanes), as are those outside `in_range`.
OPBENCH_HD Floats rounded_product(Pair value, Floats factor, Mask in_range, Mask& inside) {
  const Floats product = value.hi * factor;
  const Floats error = multiply_add(value.hi, factor, -product);  // hi factor - product, exactly
  const Floats magnitude = _mm512_abs_ps(product);
  inside = in_range & _mm512_cmp_ps_mask(magnitude, splat(0x1p-100f), _CMP_GE_OQ) &
           _mm512_cmp_ps_mask(magnitude, splat(INFINITY), _CMP_LT_OQ);
  return product + multiply_add(value.lo, factor, error);
}

// GELU's float32 forward: the pair's hi, with x's sign (GELU(-0) = -0).
struct GeluTable {
  static constexpr int kInputs = 1;
  static OPBENCH_HD Floats value(Floats x, Floats, Mask& inside) {
    inside = in_tables(x);
    return with_sign_of(gelu_pair(x).hi, x);
  }
  // The outside lanes at or below -4 (9% of N(0, 9)'s): in float too (activation_math.h), not in the
  // double lanes.
  static constexpr bool kBelow = true;
  static OPBENCH_HD Mask below(Floats x) { return _mm512_cmp_ps_mask(x, splat(kGeluTableLow), _CMP_LE_OQ); }
  static OPBENCH_HD float value_below(float x) { return math::gelu_below_tables(x); }
};

// GeGLU's float32 forward, GELU(gate) * up rounded once.
struct GeGluTable {
  static constexpr int kInputs = 2;
  static constexpr bool kBelow = false;  // every outside lane in the double lanes
  static OPBENCH_HD Floats value(Floats gate, Floats up, Mask& inside) {
    return rounded_product(gelu_pair(gate), up, in_tables(gate), inside);
  }
};

// GELU's float32 backward, grad * GELU'(x) rounded once (Backward's operands: grad, then x). x at or
// below -4 (GELU' decays too fast for the intervals there) takes the double lanes.
struct GeluDerivativeTable {
  static constexpr int kInputs = 2;
  static constexpr bool kBelow = false;
  static OPBENCH_HD Floats value(Floats grad, Floats x, Mask& inside) {
    return rounded_product(gelu_derivative_pair(x), grad, in_tables(x), inside);
  }
};

// A kernel of one output and Table::kInputs float32 inputs whose values come from Table::value where it
// says a lane is inside, from Table::value_below where the table has one (kBelow) and says a lane is
// below, and from the kernel's own double-lane math (activation_cpu.h) elsewhere.
template <typename Kernel, typename Table>
struct TableRun {
  static constexpr bool kDefined = true;
  static constexpr int kInputs = Table::kInputs;
  static_assert(!Table::kBelow || kInputs == 1, "Table::value_below (and the list's fallback) take one input");
  // Elements per block: the lanes of a block outside the tables are gathered, computed together, and put
  // back. 1024 (the lists 4 KiB each, in L1): with 256 the per-block steps (the lists' loops, their exits'
  // mispredicted branches) had cost more on N(0, 9) (docs/methodology.md).
  static constexpr int64_t kBlock = 64 * kVectorFloats;

  // n elements, n a multiple of kVectorFloats, a block at a time: the tables' values of every vector
  // (the vector loop, no calls), each vector's mask of lanes outside kept; then, only if the block has
  // any, those lanes listed (note_outside, for each input), their values computed over the list (padded
  // to whole vectors: a scalar remainder had cost more than its vectors): Table::value_below's where
  // the table has one, the double lanes' (the kernel's span) for the rest, and put back into each
  // vector (put_back: an expand, where a scalar store per lane had cost more). The outside lanes cost
  // their math per element, not per vector that has one.
  static OPBENCH_HD void vectors(float* __restrict y, const float* __restrict a, const float* __restrict b,
                                 int64_t n) {
    Mask outside[kBlock / kVectorFloats];
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t length = n - start < kBlock ? n - start : kBlock;
      const int vectors = int(length / kVectorFloats);
      Mask any = 0;
      for (int i = 0; i < vectors; ++i) {
        const int64_t at = start + i * kVectorFloats;
        Mask inside;
        store(y + at, Table::value(load(a + at), kInputs == 2 ? load(b + at) : Floats{}, inside));
        outside[i] = static_cast<Mask>(~inside);
        any |= outside[i];
      }
      if (any != 0) {
        outside_lanes(y + start, a + start, kInputs == 2 ? b + start : nullptr, outside, vectors);
      }
    }
  }

  // One block's lanes outside the tables (the block's first `vectors` vectors, their masks), out of line:
  // a call per block that has any costs nothing next to its lanes' math, and keeps the vector loop above
  // the only loop of contiguous_run (python -m opbench.cpucost counts it).
  static __attribute__((noinline)) void outside_lanes(float* __restrict y, const float* __restrict a,
                                                      const float* __restrict b, const Mask* outside, int vectors) {
    float outside_a[kBlock + kVectorFloats], outside_b[kInputs == 2 ? kBlock + kVectorFloats : 1];
    float outside_y[kBlock + kVectorFloats];
    int count = 0;
    Mask others = 0;  // any listed lane that Table::value_below does not take
    for (int i = 0; i < vectors; ++i) {
      const int64_t at = i * kVectorFloats;
      if constexpr (kInputs == 2) {
        note_outside(outside[i], b + at, outside_b, count);
      }
      if constexpr (Table::kBelow) {
        others |= outside[i] & static_cast<Mask>(~Table::below(load(a + at)));
      }
      count = note_outside(outside[i], a + at, outside_a, count);
    }
    const int padded = (count + kVectorFloats - 1) / kVectorFloats * kVectorFloats;
    store(outside_a + count, splat(0.0f));  // the padding: any input would do (its values are not put back)
    if constexpr (kInputs == 2) {
      store(outside_b + count, splat(0.0f));
    }
    if constexpr (Table::kBelow) {
      // Table::value_below for every listed lane (a loop g++ vectorizes); the lanes not below (nan,
      // subnormal: rare) from the double lanes, only where the block has any.
      for (int k = 0; k < padded; ++k) {
        outside_y[k] = Table::value_below(outside_a[k]);
      }
      if (others != 0) {
        float doubles[kBlock];
        Kernel::span(doubles, outside_a, nullptr, padded);
        for (int k = 0; k < padded; k += kVectorFloats) {
          const Mask below = Table::below(load(outside_a + k));
          store(outside_y + k, _mm512_mask_blend_ps(below, load(doubles + k), load(outside_y + k)));
        }
      }
    } else {
      Kernel::span(outside_y, outside_a, kInputs == 2 ? outside_b : nullptr, padded);
    }
    for (int i = 0, taken = 0; i < vectors; ++i) {  // every vector: a branch per vector would mispredict
      put_back(outside[i], y + i * kVectorFloats, outside_y, taken);
      taken += __builtin_popcount(outside[i]);
    }
  }

  // Inlined into cpu_loops.h's contiguous_run, whose loop python -m opbench.cpucost counts. In place
  // (out= one of the inputs, which TensorIterator allows), the inputs are copied a block at a time
  // first: vectors() reads a block's inputs again, for its outside lanes, after writing its outputs.
  static OPBENCH_HD void run(char** data, int64_t n) {
    auto* y = reinterpret_cast<float*>(data[0]);
    const auto* a = reinterpret_cast<const float*>(data[1]);
    const auto* b = kInputs == 2 ? reinterpret_cast<const float*>(data[2]) : nullptr;
    if (y == a || y == b) {
      float as[kBlock], bs[kBlock];
      for (int64_t start = 0; start < n; start += kBlock) {
        const int64_t length = n - start < kBlock ? n - start : kBlock;
        memcpy(as, a + start, length * sizeof(float));
        if (kInputs == 2) {
          memcpy(bs, b + start, length * sizeof(float));
        }
        separate(y + start, as, bs, length);
      }
      return;
    }
    separate(y, a, b, n);
  }

  // n elements of an output apart from its inputs.
  static OPBENCH_HD void separate(float* __restrict y, const float* __restrict a, const float* __restrict b,
                                  int64_t n) {
    const int64_t whole = n - n % kVectorFloats;
    vectors(y, a, b, whole);
    if (whole < n) {  // the last n % kVectorFloats elements, as one vector padded with zeros
      float as[kVectorFloats] = {}, bs[kVectorFloats] = {}, ys[kVectorFloats];
      memcpy(as, a + whole, (n - whole) * sizeof(float));
      if (kInputs == 2) {
        memcpy(bs, b + whole, (n - whole) * sizeof(float));
      }
      vectors(ys, as, bs, kVectorFloats);
      memcpy(y + whole, ys, (n - whole) * sizeof(float));
    }
  }
};

template <>
struct VectorRun<Forward<math::Gelu, float, float>> : TableRun<Forward<math::Gelu, float, float>, GeluTable> {};
template <>
struct VectorRun<Backward<math::Gelu, float, float>>
    : TableRun<Backward<math::Gelu, float, float>, GeluDerivativeTable> {};
template <>
struct VectorRun<GatedForward<math::GeGlu, float, float>>
    : TableRun<GatedForward<math::GeGlu, float, float>, GeGluTable> {};

// GeGLU's float32 backward: d/dgate in the double lanes (GatedBackward's loop), d/dup = grad * GELU(gate)
// from the tables, GeGLU's forward with grad in up's place, a block at a time (the block's inputs stay
// in L1 between the two loops).
template <>
struct VectorRun<GatedBackward<math::GeGlu, float, float>> {
  static constexpr bool kDefined = true;
  using Kernel = GatedBackward<math::GeGlu, float, float>;
  static OPBENCH_HD void run(char** data, int64_t n) {
    auto* grad_gate = reinterpret_cast<float*>(data[0]);
    const auto* grad = reinterpret_cast<const float*>(data[2]);
    const auto* gate = reinterpret_cast<const float*>(data[3]);
    const auto* up = reinterpret_cast<const float*>(data[4]);
    for (int64_t start = 0; start < n; start += kGatedBlock) {
      const int64_t end = start + kGatedBlock < n ? start + kGatedBlock : n;
      Kernel::gate_gradients(grad_gate, grad, gate, up, start, end);
      char* up_gradient[] = {data[1] + start * sizeof(float), data[3] + start * sizeof(float),
                             data[2] + start * sizeof(float)};
      VectorRun<GatedForward<math::GeGlu, float, float>>::run(up_gradient, end - start);
    }
  }
};
#endif

}  // namespace OPBENCH_ISA
}  // namespace opbench

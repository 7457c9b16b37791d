// The math of every built-in activation, once, for the C++ CPU kernel and the CUDA kernel alike: one
// functor per op (Gelu, GeluTanh, Silu) with forward(x) and derivative(x) for float and double. The
// CPU loops and the CUDA kernels (activation_cpu.h, cpu_loops.h, activation_kernel.cu) are templates
// over these functors, so a new op is a functor here and an entry in OPBENCH_ACTIVATIONS below;
// nothing else in csrc changes. Each method is a template over the type T it computes in and the
// type Result its value is rounded to (T unless given): Result says how accurate the math must be
// (kShortResult, gelu_tail below); a derivative asks its pieces for AccurateResult<T, Result>.
//
//   GELU(x)       = x * Phi(x),            Phi(x) = 0.5 * erfc(-x / sqrt(2))
//   GELU'(x)      = Phi(x) + x * phi(x),   phi(x) = exp(-x^2 / 2) / sqrt(2 pi)
//   GELU_tanh(x)  = x * sigmoid(z),        z = 2 sqrt(2/pi) (x + 0.044715 x^3)   [= 0.5 x (1 + tanh(z / 2))]
//   GELU_tanh'(x) = sigmoid(z) + x * sigmoid(z) sigmoid(-z) * dz/dx
//   SiLU(x)       = x * sigmoid(x),        SiLU'(x) = sigmoid(x) + x * sigmoid(x) sigmoid(-x)
//
// GELU's Phi is built from the tail h = Phi(-|x|) = 0.5 * erfc(|x| / sqrt(2)): Phi(x) = 1 - h for x > 0
// and h otherwise. The sigmoids are built from e = exp(-|z|) in (0, 1]: sigmoid(|z|) = 1 / (1 + e),
// sigmoid(-|z|) = e / (1 + e). Working from the small side, never from 1 + erf or 1 + tanh, keeps the
// negative tails free of cancellation: the absolute error stays at rounding level where f(x) is tiny.
//
// float: exp from one fitted polynomial, GELU's tail as exp(-x^2 / 2) times a fitted rational function,
// both branch-free (selects and fabsf, no libm calls, no std::fmin/fmax), so g++ -O3 vectorizes loops
// over them and nvcc inlines them. Where exp(y) would underflow, it is kept as a normal float times
// 2^-64 until the result's last multiply (Scaled): nothing is flushed where the result is a normal
// float. On the GPU the division and exp use the special-function unit instead (divide, exp_scaled):
// in bfloat16 an elementwise kernel runs near the SM's instruction issue limit at copy bandwidth, so
// instructions per element decide its speed (python -m opbench.sass).
// double: exp from Cody-Waite reduction and a degree-13 polynomial (vectorizable, within 2 ulp of
// double); GELU's tail from libm's erfc where the result is a double. Where double only carries the
// math of a float32 result (the CPU's float32 kernels, activation_cpu.h), shorter forms do: exp of
// degree 9 and a degree-5/6 rational for the tail (relative errors 7.2e-12 and 1.5e-10): that is 0.0025
// ulp of float, and at most 0.64 ulp after the cancellation of GELU's backward at the edge of its
// derivative-zero neighbourhood (the ULP budgets' condition limit, opbench/correctness/tolerance.py),
// where float math had left hundreds of ulps. The float32 loops are bound by the vector unit's
// throughput (not the division's, not latency: measured, docs/methodology.md), so each FMA saved counts.
// float pairs (FloatPair: Dekker's double-float, in float lanes, twice double's per instruction): SiLU's
// float32 forward and SwiGLU's float32 forward and d/dup (silu_pieces, exp_pair), within the forward's
// budget, in fewer instructions than double lanes (docs/methodology.md, "Instruction sets"). GELU's
// float32 forward on the CPU with AVX-512: per-interval polynomials in float lanes (cpu_vector_runs.h),
// gelu_below_tables below them, Gelu's double math for nan and subnormal inputs.
//
// Limits are exact by construction: f(+inf) = +inf, f(-inf) = 0, f'(+inf) = 1, f'(-inf) = 0, and nan
// stays nan. The selects and clamps below exist for these (inf * 0 would be nan).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <limits>
#include <type_traits>

#if defined(__CUDACC__)
#define OPBENCH_HD __host__ __device__ __forceinline__
#else
// always_inline: a loop vectorizes only if every call in it is inlined, and g++'s inliner gives up
// in a large caller (one function once held four dtypes' loops): gaussian_tail then became a scalar call
// through the PLT on every element of the single-thread path, 8x slower than the vector loop.
#define OPBENCH_HD inline __attribute__((always_inline))
#endif

namespace opbench {
namespace math {

constexpr double kLn2 = 0.69314718055994530942;
constexpr double kLog2E = 1.44269504088896340736;
constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;
constexpr double kSqrt2OverPi = 0.79788456080286535588;
constexpr double kTanhCubic = 0.044715;

// a * b + c with one rounding: the FMA instruction (a libm call where the target has none: the scalar
// loops of a baseline x86-64 build, cpu_loops_scalar.cpp). The Horner steps of the tail use it too: g++ in
// ISO C++ mode contracts nothing by itself (nvcc does), so the CPU and the GPU now compute the same
// bits, in one instruction per step instead of two. fmaf for float: a plain fma(a, b, c) on floats
// picks the double overload, a scalar libm call that stops the loop from vectorizing.
OPBENCH_HD float fused_multiply_add(float a, float b, float c) { return fmaf(a, b, c); }
OPBENCH_HD double fused_multiply_add(double a, double b, double c) { return fma(a, b, c); }

// A value with the bits of another of the same size (a float from its bits, the bits of a double):
// a register move once compiled, on the host (where memcpy vectorizes) and in CUDA device code alike.
template <typename To, typename From>
OPBENCH_HD To bit_cast(From value) {
  static_assert(sizeof(To) == sizeof(From), "bit_cast between types of different sizes");
  To result;
  memcpy(&result, &value, sizeof result);
  return result;
}

// exp(r) for |r| <= ln2 / 2 from a degree-6 polynomial fitted for least maximum relative error (2e-9,
// scripts/fit_float_math.py exp; its two leading coefficients round to 1), six FMAs in Horner form:
// relative error 1.2 * 2^-24 in float. Cephes' degree-7 form p(r) r^2 + r + 1 is no more accurate in
// float (1.16 * 2^-24) and costs two instructions more.
OPBENCH_HD float exp_reduced(float r) {
  float p = 1.3838633176e-03f;
  p = fused_multiply_add(p, r, 8.3753086309e-03f);
  p = fused_multiply_add(p, r, 4.1668222631e-02f);
  p = fused_multiply_add(p, r, 1.6666413735e-01f);
  p = fused_multiply_add(p, r, 4.9999991930e-01f);
  p = fused_multiply_add(p, r, 1.0f);
  return fused_multiply_add(p, r, 1.0f);
}

// A short result, bfloat16's 8 significant bits, computed in float T: math within 4e-5 relative error
// (the short tail's 3.2e-5, the short exp's 2.8e-6 and its reduction's 3.6e-7, and the kernel's
// correction left out) costs it about 0.01 ulp on top of the final rounding, and is cheaper, as
// exp_reduced_short and gaussian_tail_short below are. Not float16's 11 bits: there 4e-5 is 0.08 ulp,
// enough to round a result the other way where PyTorch's float math rounds it right. Values only (forwards, and a gated
// op's d/dup = grad * act(gate)): a derivative's two terms cancel by up to the ULP budgets' condition
// limit (2^8), so derivatives keep float's math (AccurateResult).
template <typename T, typename Result>
constexpr bool kShortResult = sizeof(T) == sizeof(float) && std::numeric_limits<Result>::digits <= 8;

template <typename T, typename Result>
using AccurateResult = std::conditional_t<kShortResult<T, Result>, T, Result>;

// exp(r) for |r| <= ln2 / 2 and a short result: degree 4, fitted as exp_reduced (relative error 2.8e-6,
// scripts/fit_float_math.py exp 4), two FMAs fewer.
OPBENCH_HD float exp_reduced_short(float r) {
  float p = 4.1468533200e-02f;
  p = fused_multiply_add(p, r, 1.6792967812e-01f);
  p = fused_multiply_add(p, r, 5.0004364719e-01f);
  p = fused_multiply_add(p, r, 9.9996199102e-01f);
  return fused_multiply_add(p, r, 9.9999923322e-01f);
}

// 1 / k!, by repeated division: within k ulps of double, far below what these polynomials carry.
OPBENCH_HD constexpr double inverse_factorial(int k) {
  double value = 1.0;
  for (int i = 2; i <= k; ++i) {
    value /= i;
  }
  return value;
}

// exp(r) for |r| <= ln2 / 2 in double: the Taylor polynomial of degree kDegree (coefficients 1 / k!) in
// Horner form from the coefficient of r^k on, one FMA a degree. Degree 13 for a double result (its
// remainder r^14 / 14! is below 5e-18 relative: within an ulp or so of double); degree 9 for a float
// result or any narrower one (remainder r^10 / 10! below 7.2e-12 relative, 1.2e-4 ulp of float; 1.8e-9,
// 0.03 ulp, after the ULP budgets' condition limit 2^8 of cancellation in a derivative). From k = 2 on,
// the sum is (exp(r) - 1 - r) / r^2, what exp_pair below evaluates in float.
template <int kDegree, int k = 0, typename T>
OPBENCH_HD T exp_taylor(T r) {
  constexpr T coefficient = T(inverse_factorial(k));
  if constexpr (k == kDegree) {
    return coefficient;
  } else {
    return fused_multiply_add(exp_taylor<kDegree, k + 1>(r), r, coefficient);
  }
}

// Rounding to an integer n without a float-to-int conversion: adding 1.5 * 2^23 rounds a float of
// magnitude below 2^22 exactly to the nearest integer and leaves it in the sum's low mantissa bits;
// with 127 added as well they hold n + 127, the exponent field of 2^n. kRoundBias is that constant,
// power_of_two(biased) the float 2^n it encodes (one shift). The same for double with 1.5 * 2^52,
// 1023 and a shift by 52.
constexpr float kRoundBias = 12582912.0f + 127.0f;
OPBENCH_HD float power_of_two(float biased) { return bit_cast<float>(bit_cast<uint32_t>(biased) << 23); }
constexpr double kRoundBiasDouble = 6755399441055744.0 + 1023.0;
OPBENCH_HD double power_of_two(double biased) { return bit_cast<double>(bit_cast<uint64_t>(biased) << 52); }

// A number too small for a normal float as value * scale: in float, value = the number * 2^64 and
// scale = 2^-64 always (a select between scaled and unscaled would cost more than the multiply: g++
// then computed exp twice). Products with value stay normal until the last multiply by scale, which
// rounds once: a result that is a normal float is as accurate as if nothing had underflowed, a
// subnormal one is rounded from there, never flushed. double never needs it (scale 1).
template <typename T>
struct Scaled {
  T value;
  T scale;
  OPBENCH_HD T number() const { return value * scale; }
};
// The smallest y exp_scaled takes: exp(-130) * 2^64 is 6.5e-38, still normal.
constexpr float kExpEnd = -130.0f;
// kRoundBias with the 64 of the 2^64 scale folded in: power_of_two(biased) is then 2^(n + 64).
constexpr float kScaledRoundBias = kRoundBias + 64.0f;

// A float number carried as the unevaluated sum hi + lo, |lo| at most about ulp(hi) (Dekker's
// double-float): about 48 bits, so that a float result computed in float lanes is rounded once, at
// the end, from a value accurate far below its last bit.
struct FloatPair {
  float hi;
  float lo;
};

// a + b = hi + lo exactly, for |a| >= |b| (Dekker's Fast2Sum): three additions, no branch.
OPBENCH_HD FloatPair fast_two_sum(float a, float b) {
  const float hi = a + b;
  return {hi, b - (hi - a)};
}

// exp(y) for float y in [kExpEnd, 0] (nan stays nan), relative error 1.2 * 2^-24: y = n ln2 + r with
// |r| <= ln2 / 2 (Cephes expf's Cody-Waite reduction), exp(r) * 2^(n + 64), the 64 folded into the
// rounding constant (kScaledRoundBias: one addition fewer). For a short result r = y - n ln2 in one
// FMA with ln2 rounded to float: n ln2 is then off by at most 188 * 1.9e-9 = 3.6e-7, exp's relative
// error, 1e-4 ulp of bfloat16 (one FMA fewer). On the GPU from the
// special-function unit instead (ex2.approx.ftz, what __expf uses): one instruction instead of
// eleven, relative error about 2 ulp plus the rounding of y * log2(e) (in bfloat16, instructions per
// element decide an elementwise kernel's speed: python -m opbench.sass).
template <typename Result = float>
OPBENCH_HD Scaled<float> exp_scaled(float y) {
#if defined(__CUDA_ARCH__)
  float value;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(value) : "f"(fused_multiply_add(y, float(kLog2E), 64.0f)));
  return {value, 0x1p-64f};
#else
  const float biased = y * float(kLog2E) + kScaledRoundBias;
  const float n = biased - kScaledRoundBias;
  if constexpr (kShortResult<float, Result>) {
    return {exp_reduced_short(fused_multiply_add(-n, float(kLn2), y)) * power_of_two(biased), 0x1p-64f};
  }
  float r = y - n * 0.693359375f;  // ln2 split in two parts so that n * ln2 is exact
  r = r - n * -2.12194440e-4f;
  return {exp_reduced(r) * power_of_two(biased), 0x1p-64f};
#endif
}
// exp(y) for double y <= 0, within 2 ulp: the same reduction with ln2 in two parts (the first FMA is
// exact), exp_taylor (degree 13, or 9 for a narrower Result), and 2^n. Below y = -708, where exp leaves
// the normal doubles (2^n would not fit the exponent field), it is 0: every product with it here is
// below 1e-300, far under what any result carries. nan stays nan. Never scaled: 2^n stays normal.
template <typename Result = double>
OPBENCH_HD Scaled<double> exp_scaled(double y) {
  const bool vanishes = y < -708.0;
  const double clamped = vanishes ? -708.0 : y;
  const double biased = clamped * kLog2E + kRoundBiasDouble;
  const double n = biased - kRoundBiasDouble;
  double r = fused_multiply_add(-n, 0x1.62e42fefa39efp-1, clamped);  // ln2, rounded
  r = fused_multiply_add(-n, 0x1.abc9e3b39803fp-56, r);  // ln2 minus that
  const double e = exp_taylor<sizeof(Result) < sizeof(double) ? 9 : 13>(r);
  return {vanishes ? 0.0 : e * power_of_two(biased), 1.0};
}

// exp(-a) for float a in [0, 190] as a pair times 2^k, for bias = kRoundBias + k (k = 0, 64 or 149:
// 2^(n + k) must be a normal float, silu_pieces picks k), relative error bounded by about 2^-26 (three
// roundings of r^2 P below 0.12, one of the correction) where exp_scaled's is 1.2 * 2^-24. -a = n ln2 +
// r + t with ln2 = kLn2High + kLn2Low: kLn2High has 15 significant bits, so that n kLn2High (|n| <= 275
// < 2^9) is exact and so is r = -a - n kLn2High from one FMA (Cody-Waite), and t = -n kLn2Low is below
// 4e-4. exp(r) = 1 + r + r^2 P(r), P the degree-6 Taylor polynomial of (exp(r) - 1 - r) / r^2
// (exp_taylor from k = 2; remainder 2e-9 times r^2 <= 0.12); exp(t) = 1 + t + t^2 / 2 to 1e-11. The
// sum 1 + r + correction is kept as a pair (fast_two_sum twice): only r^2 P and the correction, each
// below 0.12, are rounded.
// Host only: the GPU kernels compute float32 in float with the special-function unit.
OPBENCH_HD FloatPair exp_pair(float a, float bias) {
  constexpr float kLn2High = 0.693145751953125f, kLn2Low = 1.428606820309417e-06f;
  const float biased = fused_multiply_add(-a, float(kLog2E), bias);
  const float n = biased - bias;
  const float r = fused_multiply_add(-n, kLn2High, -a);
  const float t = n * -kLn2Low;
  const float w = r * r * exp_taylor<8, 2>(r);  // r^2 P(r)
  const FloatPair v = fast_two_sum(1.0f, r);
  const float t_terms = fused_multiply_add(0.5f * t, t, t);  // exp(t) - 1
  const FloatPair e = fast_two_sum(v.hi, fused_multiply_add(t_terms, v.hi + w, w));
  const float scale = power_of_two(biased);
  return {e.hi * scale, (e.lo + v.lo) * scale};
}

// p / q for q >= 1. On the GPU an IEEE division costs a reciprocal, four FMAs and a range check whose
// slow path (a call behind a barrier) serializes the elements of a pack; __fdividef is the reciprocal
// and one multiply, within 2 ulp: relative, as every quotient here is a factor of a small result.
OPBENCH_HD float divide(float p, float q) {
#if defined(__CUDA_ARCH__)
  return __fdividef(p, q);
#else
  return p / q;
#endif
}
OPBENCH_HD double divide(double p, double q) { return p / q; }

// GELU's Gaussian pieces are functions of a = |x|, clamped where every result built on them is 0 in
// float (the backward's a phi(a) falls below 2^-150 at a = 14.5; at 16, exp(-a^2 / 2) = e^-128 is
// still in exp_scaled's range). A finite a keeps a * kernel finite where x = +-inf (not nan). The clamp
// is an integer min of the bits (they order like the floats for a >= 0): written as a float select,
// g++ carried the constant a = 16 through every operation after it as one more blend each. nan
// becomes 16 here: the callers carry x's nan themselves. double: exp and erfc reach 0 before 40.
OPBENCH_HD float clamped_magnitude(float x, float end) {
  const uint32_t a = bit_cast<uint32_t>(x) & 0x7fffffffu, bound = bit_cast<uint32_t>(end);
  return bit_cast<float>(a < bound ? a : bound);
}
OPBENCH_HD float tail_abscissa(float x) { return clamped_magnitude(x, 16.0f); }
OPBENCH_HD double tail_abscissa(double x) {
  const double a = fabs(x);
  return a > 40.0 ? 40.0 : a;
}

// exp(-a^2 / 2), scaled: the Gaussian density without its constant, which GELU's backward needs and
// on which the float tail below is built. -a^2 / 2 = hi + lo exactly (lo from one FMA: a / 2 is
// exact), and exp(hi + lo) = exp(hi) (1 + lo) to within lo^2 < 2^-48: the kernel is as accurate as
// exp itself, where rounding -a^2 / 2 first had cost up to |a^2 / 2| * 2^-24 relative (84 ulp at a = 13).
// On the GPU, ex2.approx's own error (2 ulp) and the rounding of y * log2(e) dwarf lo: it is left out
// there, two instructions fewer in a kernel that runs near the issue limit; and for a short result, where
// it is below 2^-17 relative wherever the result is not 0 (there a^2 / 2 <= 88).
template <typename Result, typename T>
OPBENCH_HD Scaled<T> gaussian_kernel(T a) {
  const T half = T(-0.5) * a;
  const T hi = half * a;
  const Scaled<T> e = exp_scaled<Result>(hi);
#if defined(__CUDA_ARCH__)
  return e;
#else
  if constexpr (kShortResult<T, Result>) {
    return e;
  } else {
    const T lo = fused_multiply_add(half, a, -hi);
    return {fused_multiply_add(e.value, lo, e.value), e.scale};
  }
#endif
}

// Phi(-a) = 0.5 * erfc(a / sqrt(2)), the GELU tail probability, for float, given kernel =
// exp(-a^2 / 2) (or that times a power of 2: the result carries the same): kernel * R(a) with R(a) =
// 0.5 * erfcx(a / sqrt(2)), the scaled complementary error function, smooth and decaying like
// 1 / (a sqrt(2 pi)). R is a rational P(a) / Q(a) of degrees 4 and 5, fitted for least maximum
// relative error on [0, 13.25] (7.5e-9, well under float's 6e-8; scripts/fit_float_math.py tail);
// beyond 13.25 its error grows slowly (asymptotically R ~ P / Q, both polynomials' leading terms
// fitted). All coefficients are positive: no Horner step cancels and Q >= 1. So the tail's error is
// relative, a few ulp: a rational fitted to the tail itself has to cancel its way down to
// exp(-a^2 / 2). Nine FMAs, a division and a multiply on top of the kernel.
OPBENCH_HD float gaussian_tail(float a, float kernel) {
  float p = 3.912572805e-03f;
  p = fused_multiply_add(p, a, 3.928243416e-02f);
  p = fused_multiply_add(p, a, 1.792645588e-01f);
  p = fused_multiply_add(p, a, 4.329939740e-01f);
  p = fused_multiply_add(p, a, 5.000000014e-01f);
  float q = 9.807206391e-03f;
  q = fused_multiply_add(q, a, 9.847453400e-02f);
  q = fused_multiply_add(q, a, 4.589789387e-01f);
  q = fused_multiply_add(q, a, 1.186104432e+00f);
  q = fused_multiply_add(q, a, 1.663872761e+00f);
  q = fused_multiply_add(q, a, 1.0f);
  return kernel * divide(p, q);
}

// double: libm's erfc, accurate as it is; the kernel's scale is 1.
OPBENCH_HD double gaussian_tail(double a, double) { return 0.5 * erfc(a * kInvSqrt2); }

// Phi(-a) in double for a float result: kernel * P(a) / Q(a) as above with degrees 5 and 6 (relative
// error 1.5e-10 on [0, 13.25], 4.1e-9 out to a = 16, where every result is subnormal; all coefficients
// positive, Q >= 1; scripts/fit_float_math.py tail 5 6). Vectorizable, where libm's erfc is a scalar
// call per element.
OPBENCH_HD double gaussian_tail_for_float(double a, double kernel) {
  double p = 0.0008221848277755855;
  p = fused_multiply_add(p, a, 0.010994250917946705);
  p = fused_multiply_add(p, a, 0.06842374281363846);
  p = fused_multiply_add(p, a, 0.24374875056603915);
  p = fused_multiply_add(p, a, 0.4998500619384453);
  p = fused_multiply_add(p, a, 0.49999999999217104);
  double q = 0.0020609161746333146;
  q = fused_multiply_add(q, a, 0.027558225102138848);
  q = fused_multiply_add(q, a, 0.17358144467897202);
  q = fused_multiply_add(q, a, 0.6384186727097239);
  q = fused_multiply_add(q, a, 1.4217626315432104);
  q = fused_multiply_add(q, a, 1.797584681782895);
  q = fused_multiply_add(q, a, 1.0);
  return kernel * divide(p, q);
}

// Phi(-a) in float for a short result: degrees 2 and 3 (relative error 3.2e-5 on [0, 13.25]; Q >= 1;
// scripts/fit_float_math.py tail 2 3), four FMAs fewer.
OPBENCH_HD float gaussian_tail_short(float a, float kernel) {
  float p = 6.022092437e-02f;
  p = fused_multiply_add(p, a, 2.733999653e-01f);
  p = fused_multiply_add(p, a, 5.000007732e-01f);
  float q = 1.507416519e-01f;
  q = fused_multiply_add(q, a, 6.910423450e-01f);
  q = fused_multiply_add(q, a, 1.345120117e+00f);
  q = fused_multiply_add(q, a, 1.0f);
  return kernel * divide(p, q);
}

// The tail GELU computed in T uses for a result of type Result: double math for a float result (or
// any narrower one) takes the vectorizable rational, float math for a short result the short one,
// everything else the tail of its own type.
template <typename Result, typename T>
OPBENCH_HD T gelu_tail(T a, T kernel) {
  if constexpr (sizeof(T) == sizeof(double) && sizeof(Result) < sizeof(double)) {
    return gaussian_tail_for_float(a, kernel);
  } else if constexpr (kShortResult<T, Result>) {
    return gaussian_tail_short(a, kernel);
  } else {
    return gaussian_tail(a, kernel);
  }
}

// sigmoid(|z|) and sigmoid(-|z|), from e = exp(-|z|) in (0, 1]: nothing overflows, nothing cancels.
// Relative error: exp's (1 ulp) and the division's (0.5 ulp), a few ulp in all. sigmoid(-|z|) is kept
// scaled (exp_scaled), so x * sigmoid(-|z|) stays accurate where sigmoid(-|z|) alone is subnormal;
// past |z| = 130 it is 0 (x sigmoid(-|z|) is below float's smallest subnormal there for every x that
// does not overflow z).
template <typename T>
struct Logistic {
  T high;  // sigmoid(|z|), in [0.5, 1]
  Scaled<T> low;  // sigmoid(-|z|) = 1 - high
  OPBENCH_HD T value(T z) const { return z > T(0) ? high : low.number(); }  // sigmoid(z); nan stays nan
};

template <typename Result, typename T>
OPBENCH_HD Logistic<T> logistic(T z) {
  const T y = z < T(0) ? z : -z;  // -|z|; nan stays nan
  const bool vanishes = y < T(kExpEnd);
  const Scaled<T> e = exp_scaled<Result>(vanishes ? T(kExpEnd) : y);
  const T high = divide(T(1), fused_multiply_add(e.value, e.scale, T(1)));
  return {high, {vanishes ? T(0) : e.value * high, e.scale}};
}

// The limit of x * g(x) as x -> +-inf where the finite formula would give inf * 0 = nan: x for
// x = +inf, 0 for x = -inf.
template <typename T>
OPBENCH_HD T at_infinity(T x, T finite, T positive_limit) {
  return x == T(INFINITY) ? positive_limit : (x == T(-INFINITY) ? T(0) : finite);
}

// x * sigmoid(z) for a z of x's sign. x > 0: x - x * sigmoid(-z) in one FMA, one rounding instead of
// two (as GELU's x - x * tail): 0.5 ulp of the result plus x times the small sigmoid's error, where
// x / (1 + e) would add the rounding of 1 + e (measured: 1.1 ulp against 0.5). x <= 0: x *
// sigmoid(-|z|), scaled until the last multiply.
template <typename Result, typename T>
OPBENCH_HD T times_sigmoid(T x, T z) {
  const Logistic<T> s = logistic<Result>(z);
  const T positive = fused_multiply_add(-x, s.low.number(), x);
  const T negative = x * s.low.value * s.low.scale;
  return at_infinity(x, x > T(0) ? positive : negative, x);  // nan: s.low is nan, and so is the product
}

// d/dx [x sigmoid(z)] = sigmoid(z) + x dz/dx sigmoid(z) sigmoid(-z): for z > 0, high + (x dz/dx) high
// low; for z <= 0, (1 + (x dz/dx) high) low, scaled until the last multiply (and -0, not +0, past low's
// end). Where x dz/dx overflows (x = +-inf, or x^3 overflowing in GELU-tanh's dz/dx) the slope is
// exactly 0 and the result is the limit, 1 or 0.
template <typename Result, typename T>
OPBENCH_HD T sigmoid_product_derivative(T x, T z, T dz_dx) {
  const Logistic<T> s = logistic<Result>(z);
  const T slope = x * dz_dx;
  const T positive = fused_multiply_add(slope, s.high * s.low.number(), s.high);
  const T negative = fused_multiply_add(slope, s.high, T(1)) * s.low.value * s.low.scale;  // -0 where low is 0
  return at_infinity(slope, z > T(0) ? positive : negative, T(1));
}

struct Gelu {
  static constexpr const char* kName = "gelu";

  // x * Phi(x) = x - |x| Phi(-|x|) for x > 0, in one FMA (one rounding: 0.5 ulp plus |x| times the
  // tail's own error), and -|x| Phi(-|x|) otherwise, scaled until the last multiply; written
  // -a * tail + (x < 0 ? -0 : x), so GELU(-0) = -0, GELU(+0) = +0, and a tail that underflows to 0
  // still gives -0 (the limit from below: -a * 0 + +0 would be +0). Limits: a stops at 16 (40 in
  // double), so +inf gives +inf and -inf gives -0; nan stays nan through x.
  template <typename T, typename Result = T>
  static OPBENCH_HD T forward(T x) {
    const T a = tail_abscissa(x);
    const Scaled<T> kernel = gaussian_kernel<Result>(a);
    const T tail = gelu_tail<Result>(a, kernel.value);  // Phi(-a) / kernel.scale
    const T positive = fused_multiply_add(-a, tail * kernel.scale, x);
    const T negative = fused_multiply_add(-a, tail, x < T(0) ? T(-0.0) : x) * kernel.scale;
    return x > T(0) ? positive : negative;
  }

  // Phi(x) + x phi(x) = 1 - d for x > 0 and d otherwise, with d = Phi(-|x|) - |x| phi(x): one kernel
  // exp(-x^2 / 2) gives the density phi and, in float, the tail; d scaled until the last multiply.
  // d is written -(a phi - tail), the same rounding, so that where both underflow to 0 (the tail,
  // where the true d is negative) it is -0. Limits: 1 at +inf, -0 at -inf; nan is kept by the last
  // select (x == x: not nan).
  template <typename T, typename Result = T>
  static OPBENCH_HD T derivative(T x) {
    using Accurate = AccurateResult<T, Result>;
    const T a = tail_abscissa(x);
    const Scaled<T> kernel = gaussian_kernel<Accurate>(a);
    const T tail = gelu_tail<Accurate>(a, kernel.value);
    const T d = -fused_multiply_add(a, kernel.value * T(kInvSqrt2Pi), -tail) * kernel.scale;
    return x > T(0) ? T(1) - d : (x == x ? d : x);
  }
};

struct GeluTanh {
  static constexpr const char* kName = "gelu_tanh";

  // z = x (a + b x^2) with a = 2 sqrt(2/pi), b = 0.044715 a: an FMA and two multiplies. Past |x| ~ 4.9e12
  // in float, x^3 overflows and z is +-inf: sigmoid saturates to exactly 1 or 0, as it should.
  template <typename T>
  static OPBENCH_HD T argument(T x) {
    return x * fused_multiply_add(T(2 * kSqrt2OverPi * kTanhCubic), x * x, T(2 * kSqrt2OverPi));
  }

  template <typename T, typename Result = T>
  static OPBENCH_HD T forward(T x) {
    return times_sigmoid<Result>(x, argument(x));
  }

  template <typename T, typename Result = T>
  static OPBENCH_HD T derivative(T x) {
    const T dz_dx = fused_multiply_add(T(6 * kSqrt2OverPi * kTanhCubic), x * x, T(2 * kSqrt2OverPi));
    return sigmoid_product_derivative<AccurateResult<T, Result>>(x, argument(x), dz_dx);
  }
};

// x sigmoid(x) for a float32 x in float lanes, as pieces: x sigmoid(x) = (x_hi q_hi + x_lo q_lo) scale
// to within exp_pair's error. sigmoid(x) = m / (1 + e) with e = exp(-|x|) and m = 1 for x > 0, m = e
// otherwise, numerator and denominator as pairs (1 + e by fast_two_sum: e <= 1); the quotient q_hi from
// one division, its correction q_lo from the residual m - q_hi (1 + e) (one FMA, accurate to 2^-24 of
// itself) times the same reciprocal. e is computed times 2^k, so that it stays a normal float, and
// scale = 2^-k undoes that for x < 0 (1 + e takes e * 2^-k). kFactor: the pieces are multiplied by
// another operand (a gated op's up) before scale, which must then neither overflow nor lose bits: k =
// 0 up to |x| = 60, 64 up to 110 (x_hi q_hi below 1e-5), 149 up to 190 (e's low part stays normal in
// the first two tiers; in the third it turns subnormal past 174, still about 2^-36 of e where a result
// can be normal), where exp(-190) 2^149 is still normal and from where x e(x) times any float is below
// the normal floats (scale is 0: a product that would be a subnormal float is 0); alone, k = 64
// throughout and |x| ends at 130 (exp_scaled's end: x e(x) is below every subnormal there). |x| is
// clamped at that end, x_hi at -end (-inf gives -0; nan stays nan) and x_lo at +-end (q_lo is 0 there,
// and +inf * 0 would be nan).
struct SiluPieces {
  float x_hi, x_lo, q_hi, q_lo, scale;
};

template <bool kFactor>
OPBENCH_HD SiluPieces silu_pieces(float x) {
  constexpr float end = kFactor ? 190.0f : -kExpEnd;
  const float a = clamped_magnitude(x, end);
  float bias = kScaledRoundBias, scale = 0x1p-64f;
  if constexpr (kFactor) {
    const bool deep = a > 60.0f, deeper = a > 110.0f;
    bias = deeper ? kRoundBias + 149.0f : (deep ? kScaledRoundBias : kRoundBias);
    scale = deeper ? (a == end ? 0.0f : 0x1p-149f) : (deep ? 0x1p-64f : 1.0f);
  }
  const FloatPair e = exp_pair(a, bias);
  const FloatPair sum = fast_two_sum(1.0f, e.hi * scale);
  const float denominator_lo = sum.lo + e.lo * scale;
  const bool positive = x > 0.0f;
  const float numerator_hi = positive ? 1.0f : e.hi;
  const float numerator_lo = positive ? 0.0f : e.lo;
  const float reciprocal = 1.0f / sum.hi;
  const float q_hi = numerator_hi * reciprocal;
  const float residual = fused_multiply_add(-q_hi, sum.hi, numerator_hi);
  const float q_lo = fused_multiply_add(-q_hi, denominator_lo, residual + numerator_lo) * reciprocal;
  const float x_hi = x < -end ? -end : x;
  return {x_hi, x_hi > end ? end : x_hi, q_hi, q_lo, positive ? 1.0f : scale};
}

// SiLU's float32 forward: the pieces' sum in one FMA, the result's one rounding (0.5 ulp plus
// exp_pair's error). The sign is x's: the correction's sign must not turn -0 into +0.
OPBENCH_HD float silu_in_float(float x) {
  const SiluPieces p = silu_pieces<false>(x);
  return copysignf(fused_multiply_add(p.x_hi, p.q_hi, p.x_lo * p.q_lo) * p.scale, x);
}

// GELU(x) for float32 x <= -4 in float lanes, the lanes below GELU's AVX-512 tables (cpu_vector_runs.h).
// With a = -x (clamped at 16: every result from there on is -0), GELU(x) = -a Phi(-a) = -exp(-a^2 / 2)
// F(s) / sqrt(2 pi), F = sqrt(pi / 2) a erfcx(a / sqrt 2) = 1 - s G(s) (Mills' ratio) with s = 1 / a^2
// in [1/256, 1/16]: F in [0.94, 1), G of degree 6 fitted for least maximum relative error (3.6e-8,
// scripts/fit_float_math.py gelu-below 6), which s scales down to 2.1e-9 in F. a^2 = h + l exactly (an
// FMA); exp(-h / 2) times 2^64 from exp_pair (a pair, 2^-26; normal down to a = 16, 2^-185 * 2^64);
// exp(-l / 2) = 1 - l / 2 to within 2^-36; so the value is exp(-h / 2) (1 + f) / sqrt(2 pi) with f =
// -s G - l / 2 + s G l / 2, below 1/16, and 1 / sqrt(2 pi) a pair: only f and the corrections (a
// sixteenth of the value and less) are rounded before the sum's one rounding (p + rest), then the
// product by 2^-64 rounds once more where the result is subnormal (from 2^64 above it: within half its
// ulp plus 2^-24 of it). g++'s loop over it takes 59 instructions per 16 elements, a division among
// them, where the double lanes' takes 142.
OPBENCH_HD float gelu_below_tables(float x) {
  constexpr float kInvSqrt2PiHigh = 0x1.988454p-2f, kInvSqrt2PiLow = -0x1.857936p-27f;
  const float a = tail_abscissa(x);
  const float h = a * a;
  const float l = fused_multiply_add(a, a, -h);  // a^2 - h, exactly
  const FloatPair e = exp_pair(0.5f * h, kScaledRoundBias);  // exp(-h / 2) 2^64
  const float s = 1.0f / h;
  float g = 0x1.98e338p+13f;
  g = fused_multiply_add(g, s, -0x1.0de8a8p+12f);
  g = fused_multiply_add(g, s, 0x1.6febfep+9f);
  g = fused_multiply_add(g, s, -0x1.9226dap+6f);
  g = fused_multiply_add(g, s, 0x1.de4918p+3f);
  g = fused_multiply_add(g, s, -0x1.7ff5b8p+1f);
  g = fused_multiply_add(g, s, 0x1.ffffeap-1f);
  const float sg = s * g, half_l = 0.5f * l;
  const float f = fused_multiply_add(half_l, sg, -(sg + half_l));  // (1 - s G)(1 - l / 2) - 1
  const float p = e.hi * kInvSqrt2PiHigh;
  const float q = fused_multiply_add(e.hi, kInvSqrt2PiHigh, -p) +  // e.hi C_hi - p, exactly
                  fused_multiply_add(e.lo, kInvSqrt2PiHigh, e.hi * kInvSqrt2PiLow);
  const float rest = fused_multiply_add(p, f, fused_multiply_add(q, f, q));  // (p + q)(1 + f) - p
  return -((p + rest) * 0x1p-64f);
}

// x sigmoid(x) * factor for float32 operands (SwiGLU's forward and d/dup), rounded once: x_hi q_hi as
// the pair hi + lo (its rounding error from an FMA on x_lo, which equals x_hi wherever q_hi is not 1),
// then hi factor + lo factor in one FMA, lo times a finite factor (an infinite one times a lo of 0
// would be nan where hi factor is the infinite result). Where hi factor is not 0 but below 2^-100 in
// magnitude, lo factor would fall among the subnormals and lose up to 0.5 ulp of a result just above
// them: the factor is then scaled by 2^64 (finite: |hi| >= 2^-149 bounds it) and the result back
// (exactly, where it is normal). The sign is x's sign times factor's, from their bits (x * factor is nan
// for -inf * 0).
OPBENCH_HD float silu_times_in_float(float x, float factor) {
  const SiluPieces p = silu_pieces<true>(x);
  const float hi = p.x_hi * p.q_hi;
  const float lo = fused_multiply_add(p.x_lo, p.q_lo, fused_multiply_add(p.x_lo, p.q_hi, -(p.x_lo * p.q_hi)));
  const float product = fabsf(hi * factor);
  const bool tiny = product < 0x1p-100f && product != 0.0f;
  // 2^64 and 2^-64 where tiny, else 1, built in the exponent bits: as float selects, g++ computed the
  // FMAs below twice, once per case.
  const uint32_t shift = tiny ? 64u << 23 : 0u;
  const float f = factor * bit_cast<float>(0x3f800000u + shift);
  const float finite_f = copysignf(clamped_magnitude(f, 0x1.fffffep127f), f);  // float's largest
  const float y = fused_multiply_add(hi, f, lo * finite_f) * (p.scale * bit_cast<float>(0x3f800000u - shift));
  const uint32_t sign = (bit_cast<uint32_t>(x) ^ bit_cast<uint32_t>(factor)) & 0x80000000u;
  return bit_cast<float>((bit_cast<uint32_t>(y) & 0x7fffffffu) | sign);
}

// Whether a functor's math for T and Result is the float-pair one (silu_pieces): a float32 result
// computed in float, on the host (the GPU keeps float math).
template <typename T, typename Result>
#if defined(__CUDA_ARCH__)
constexpr bool kInFloatPairs = false;
#else
constexpr bool kInFloatPairs = std::is_same_v<T, float> && std::is_same_v<Result, float>;
#endif

// Whether an op's functor computes its float32 values in float lanes (kFloatLanes), accurate to the
// budgets there: the CPU kernels then compute them in float (activation_cpu.h), not double.
template <typename Op, typename = void>
constexpr bool kFloatLanes = false;
template <typename Op>
constexpr bool kFloatLanes<Op, std::void_t<decltype(Op::kFloatLanes)>> = Op::kFloatLanes;

struct Silu {
  static constexpr const char* kName = "silu";
  // float32 values (forward, times) in float lanes on the host; the GPU keeps float math.
  static constexpr bool kFloatLanes = true;

  template <typename T, typename Result = T>
  static OPBENCH_HD T forward(T x) {
    if constexpr (kInFloatPairs<T, Result>) {
      return silu_in_float(x);
    } else {
      return times_sigmoid<Result>(x, x);
    }
  }

  // forward(x) * factor, rounded once where T carries a float32 result.
  template <typename T, typename Result = T>
  static OPBENCH_HD T times(T x, T factor) {
    if constexpr (kInFloatPairs<T, Result>) {
      return silu_times_in_float(x, factor);
    } else {
      return forward<T, Result>(x) * factor;
    }
  }

  template <typename T, typename Result = T>
  static OPBENCH_HD T derivative(T x) {
    return sigmoid_product_derivative<AccurateResult<T, Result>>(x, x, T(1));
  }
};

// A gated op act(gate) * up (a GLU) over one activation's functor. Forward reads gate and up and writes
// y (3 tensors of traffic; the eager composite act(gate) then * up moves 5). Backward reads grad, gate
// and up and writes both gradients (5; the composite 9, plus the act(gate) it saved), recomputing
// act(gate) rather than saving it:
//   d/dgate = grad * act'(gate) * up,   d/dup = grad * act(gate).
// Limits along gate with up = 1 are the activation's.
template <typename Act>
struct Gated {
  static constexpr bool kFloatLanes = opbench::math::kFloatLanes<Act>;

  // act(gate) * factor: the activation's times() where its float32 values are computed in float lanes
  // (one rounding of the product), else the product of its forward.
  template <typename T, typename Result>
  static OPBENCH_HD T times(T gate, T factor) {
    if constexpr (kFloatLanes) {
      return Act::template times<T, Result>(gate, factor);
    } else {
      return Act::template forward<T, Result>(gate) * factor;
    }
  }

  template <typename T, typename Result = T>
  static OPBENCH_HD T forward(T gate, T up) {
    return times<T, Result>(gate, up);
  }

  template <typename T, typename Result = T>
  static OPBENCH_HD T gate_gradient(T grad, T gate, T up) {
    return grad * Act::template derivative<T, Result>(gate) * up;
  }

  template <typename T, typename Result = T>
  static OPBENCH_HD T up_gradient(T grad, T gate) {
    return times<T, Result>(gate, grad);
  }
};

struct SwiGlu : Gated<Silu> {
  static constexpr const char* kName = "swiglu";
};

struct GeGlu : Gated<Gelu> {
  static constexpr const char* kName = "geglu";
};

}  // namespace math
}  // namespace opbench

// Every op with kernels, for X-macros: the schemas, the CPU and CUDA registrations and the CUDA
// launchers' instantiations each expand this list once.
#define OPBENCH_ACTIVATIONS(X) X(Gelu) X(GeluTanh) X(Silu)
// The gated ops (two inputs, gate and up), CPU kernels only (opbench/csrc/gated_activations.cpp).
#define OPBENCH_GATED(X) X(SwiGlu) X(GeGlu)

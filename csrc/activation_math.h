// The math of every built-in activation, once, for the C++ CPU kernel and the CUDA kernel alike: one
// functor per op (Gelu, GeluTanh, Silu) with forward(x) and derivative(x) for float and double. The
// loops and kernels (activation_cpu.h, activation_kernel.cu) are templates over these functors, so a
// new op is a functor here and an entry in OPBENCH_ACTIVATIONS below; nothing else in csrc changes.
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
// float: exp and 2^t from one fitted polynomial, GELU's tail as exp(-x^2 / 2) times a fitted rational
// function. Both are branch-free (selects and fabsf, no libm calls, no std::fmin/fmax), so g++ -O3
// vectorizes loops over them and nvcc inlines them. On the GPU the division and exp use the special-function unit instead
// (divide, exp2_of, exp_flushed): in bfloat16 an elementwise kernel runs near the SM's instruction issue limit
// at copy bandwidth, so instructions per element decide its speed (python -m opbench.sass).
// double: libm's erfc and exp, correctly rounded to within an ulp or so.
//
// Limits are exact by construction: f(+inf) = +inf, f(-inf) = 0, f'(+inf) = 1, f'(-inf) = 0, and nan
// stays nan. The selects and clamps below exist for these (inf * 0 would be nan).
#pragma once

#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__CUDACC__)
#define OPBENCH_HD __host__ __device__ __forceinline__
#else
// always_inline: a loop vectorizes only if every call in it is inlined, and g++'s inliner gives up
// in a large caller (gelu_cpu holds four dtypes' loops): gaussian_tail then became a scalar call
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

// a * b + c with one rounding: the FMA instruction. The Horner steps of the tail use it too: g++ in
// ISO C++ mode contracts nothing by itself (nvcc does), so the CPU and the GPU now compute the same
// bits, in one instruction per step instead of two. fmaf for float: a plain fma(a, b, c) on floats
// picks the double overload, a scalar libm call that stops the loop from vectorizing.
OPBENCH_HD float fused_multiply_add(float a, float b, float c) { return fmaf(a, b, c); }
OPBENCH_HD double fused_multiply_add(double a, double b, double c) { return fma(a, b, c); }

// A float from its bits: a register move once compiled (memcpy vectorizes on the host).
OPBENCH_HD float float_from_bits(uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float value;
  memcpy(&value, &bits, sizeof value);
  return value;
#endif
}

OPBENCH_HD uint32_t bits_of(float value) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(value);
#else
  uint32_t bits;
  memcpy(&bits, &value, sizeof bits);
  return bits;
#endif
}

// Coefficient k of the polynomial below for the variable v = r / unit: c_k * unit^k, folded at
// compile time.
OPBENCH_HD constexpr float scaled_coefficient(double c, int k, double unit) {
  return k == 0 ? float(c) : scaled_coefficient(c * unit, k - 1, unit);
}

// exp(r) for |r| <= ln2 / 2 from a degree-6 polynomial fitted for least maximum relative error (2e-9,
// scripts/fit_float_math.py exp; its two leading coefficients round to 1), six FMAs in Horner form.
// Evaluated at v = r / unit: unit = 1 is exp(v); unit = ln2 is 2^v for |v| <= 1/2, the same polynomial
// in a scaled variable, so the same relative error (1.2 * 2^-24 in float, 1.3 with the scaled
// coefficients rounded). Cephes' degree-7 form p(r) r^2 + r + 1 is no more accurate in float (1.16 *
// 2^-24) and costs two instructions more.
template <bool kBase2>
OPBENCH_HD float exp_reduced(float v) {
  constexpr double unit = kBase2 ? kLn2 : 1.0;
  float p = scaled_coefficient(1.3838633176e-03, 6, unit);
  p = fused_multiply_add(p, v, scaled_coefficient(8.3753086309e-03, 5, unit));
  p = fused_multiply_add(p, v, scaled_coefficient(4.1668222631e-02, 4, unit));
  p = fused_multiply_add(p, v, scaled_coefficient(1.6666413735e-01, 3, unit));
  p = fused_multiply_add(p, v, scaled_coefficient(4.9999991930e-01, 2, unit));
  p = fused_multiply_add(p, v, scaled_coefficient(1.0, 1, unit));
  return fused_multiply_add(p, v, 1.0f);
}

// Rounding to an integer n without a float-to-int conversion: adding 1.5 * 2^23 rounds a float of
// magnitude below 2^22 exactly to the nearest integer and leaves it in the sum's low mantissa bits;
// with 127 added as well they hold n + 127, the exponent field of 2^n. kRoundBias is that constant,
// power_of_two(biased) the float 2^n it encodes (one shift; bits 0, the float 0, for n = -127).
constexpr float kRoundBias = 12582912.0f + 127.0f;
OPBENCH_HD float power_of_two(float biased) { return float_from_bits(bits_of(biased) << 23); }

// exp(a) for float a in [-88.37, 88], relative error 1.2 * 2^-24: a = n ln2 + r with |r| <= ln2 / 2
// (Cephes expf's Cody-Waite reduction), exp(r) * 2^n. No range handling: callers keep a in range
// (exp_flushed below). In [-88.37, -87.68], n = -127: the result is 0.
OPBENCH_HD float exp_polynomial(float a) {
  const float biased = a * float(kLog2E) + kRoundBias;
  const float n = biased - kRoundBias;
  float r = a - n * 0.693359375f;  // ln2 split in two parts so that n * ln2 is exact
  r = r - n * -2.12194440e-4f;
  return exp_reduced<false>(r) * power_of_two(biased);
}

// 2^t for float t in [-127.5, 127]: t = n + f with |f| <= 1/2, exact (no reduction constant to
// split), 2^f * 2^n; relative error 1.3 * 2^-24. For t in [-127.5, -126.5), n = -127: the result is 0.
OPBENCH_HD float exp2_polynomial(float t) {
  const float biased = t + kRoundBias;
  const float n = biased - kRoundBias;
  return exp_reduced<true>(t - n) * power_of_two(biased);
}

// 2^t for t in [-127.5, 127] (0 below about -126.5). On the GPU from the special-function unit
// (ex2.approx.ftz, what __expf uses after scaling by log2(e)): one instruction instead of eleven,
// relative error about 2 ulp, far under float rounding in the absolute terms the callers need.
OPBENCH_HD float exp2_of(float t) {
#if defined(__CUDA_ARCH__)
  float result;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(result) : "f"(t));
  return result;
#else
  return exp2_polynomial(t);
#endif
}
OPBENCH_HD double exp2_of(double t) { return exp2(t); }

// exp(a) for any a <= 0 (nan stays nan), flushed to 0 where the float result would be subnormal
// (a < -87.33): what makes exp(-inf) exactly 0 and the sigmoids' limits exact. __expf flushes by
// itself (ex2.approx.ftz).
OPBENCH_HD float exp_flushed(float a) {
#if defined(__CUDA_ARCH__)
  return __expf(a);
#else
  const float e = exp_polynomial(a < -87.33f ? -87.33f : a);
  return a < -87.33f ? 0.0f : e;
#endif
}
OPBENCH_HD double exp_flushed(double a) { return exp(a); }

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

// GELU's Gaussian pieces are functions of a = |x|, clamped where they end in float: at a = sqrt(176),
// exp(-a^2 / 2) = 2^-126.96 is below float's smallest normal number and comes out as exactly 0 (the
// polynomial's 2^n is 2^-127, whose bits are 0; ex2.approx.ftz flushes), and so does the tail built on it. A
// finite a keeps a * 0 = 0 where x = +-inf (not nan), in one instruction where a select on each
// product would cost two. double: exp and erfc reach 0 before 40. nan stays nan (it fails the test).
OPBENCH_HD float tail_abscissa(float x) {
  const float a = fabsf(x);
  return a > 13.2664992f ? 13.2664992f : a;
}
OPBENCH_HD double tail_abscissa(double x) {
  const double a = fabs(x);
  return a > 40.0 ? 40.0 : a;
}

// exp(-a^2 / 2) = 2^t with t = a * (a * -log2(e) / 2): the Gaussian density without its constant,
// which GELU's backward needs, and on which the float tail below is built. Base 2 spares exp's
// reduction (two FMAs and a multiply by log2(e)); the price is the rounding of t, two roundings of
// relative size 2^-24 each, which 2^t turns into a relative error of ln2 * |t| * 2^-23 < 1.1e-5 (|t| <= 127),
// against half that for exp(-a^2 / 2): tiny in absolute terms, as the kernel is e^-88 there.
template <typename T>
OPBENCH_HD T gaussian_kernel(T a) {
  return exp2_of(a * (a * T(-0.5 * kLog2E)));
}

// Phi(-a) = 0.5 * erfc(a / sqrt(2)), the GELU tail probability, for float, given kernel =
// exp(-a^2 / 2): kernel * R(a) with R(a) = 0.5 * erfcx(a / sqrt(2)), the scaled complementary error
// function, smooth and decaying like 1 / (a sqrt(2 pi)). R is a rational P(a) / Q(a) of degrees 4 and
// 5, fitted for least maximum relative error on [0, 13.25] (7.5e-9, well under float's 6e-8;
// scripts/fit_float_math.py tail). All coefficients are positive: no Horner step cancels and Q >= 1.
// So the tail's error is relative, a few ulp: a rational fitted to the tail itself has to cancel its
// way down to exp(-a^2 / 2), and its absolute error (4e-8 near a = 4.5), multiplied by x in
// x * (1 - tail), had made cpp's float GELU error 4.2e-7 against F.gelu's 3.7e-7. Nine FMAs, a
// division and a multiply on top of the kernel.
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
OPBENCH_HD float gaussian_tail(float a) { return gaussian_tail(a, gaussian_kernel(a)); }

// double: libm's erfc, accurate as it is; no kernel needed.
OPBENCH_HD double gaussian_tail(double a) { return 0.5 * erfc(a * kInvSqrt2); }
OPBENCH_HD double gaussian_tail(double a, double) { return gaussian_tail(a); }

// x * factor, and 0 where the factor is 0: the limit of x * f(x) as |x| -> inf, not inf * 0 = nan.
template <typename T>
OPBENCH_HD T times_vanishing(T x, T factor) {
  return factor == T(0) ? T(0) : x * factor;
}

// sigmoid(|z|) and sigmoid(-|z|), from e = exp(-|z|) in [0, 1]: nothing overflows, nothing cancels.
// Relative error: exp's (1 ulp) and the division's (0.5 ulp), a few ulp in all. Where e underflows
// (|z| > 87), they are exactly 1 and 0, as the limits need.
template <typename T>
struct Logistic {
  T high;  // sigmoid(|z|), in [0.5, 1]
  T low;   // sigmoid(-|z|) = 1 - high, in [0, 0.5]
  OPBENCH_HD T value(T z) const { return z > T(0) ? high : low; }  // sigmoid(z); nan stays nan (low is nan)
  OPBENCH_HD T slope() const { return high * low; }                 // sigmoid(z) sigmoid(-z)
};

template <typename T>
OPBENCH_HD Logistic<T> logistic(T z) {
  const T e = exp_flushed(z < T(0) ? z : -z);  // nan stays nan
  const T high = divide(T(1), T(1) + e);
  return {high, e * high};
}

// x * sigmoid(z) for a z of x's sign. x > 0: x - x * sigmoid(-z) in one FMA, one rounding instead of
// two (as GELU's x - x * tail): 0.5 ulp of the result plus x times the small sigmoid's error, where
// x / (1 + e) would add the rounding of 1 + e (measured: 1.1 ulp against 0.5). x <= 0: x * sigmoid(-|z|).
// Where sigmoid(-|z|) underflows to 0 (|z| > 87, +-inf) the result is the limit: x for x > 0, else 0.
template <typename T>
OPBENCH_HD T times_sigmoid(T x, T z) {
  const Logistic<T> s = logistic(z);
  const T positive = fused_multiply_add(-x, s.low, x);
  const T negative = x * s.low;
  const T limit = x > T(0) ? x : T(0);
  const T product = x > T(0) ? positive : negative;
  return s.low == T(0) ? limit : product;  // nan: s.low is nan, and so is the product
}

struct Gelu {
  static constexpr const char* kName = "gelu";

  // x * Phi(x) = x - |x| Phi(-|x|) for x > 0 and -|x| Phi(-|x|) otherwise: one FMA, -a * tail + max(x, 0),
  // in both cases, so the result is rounded once (0.5 ulp plus |x| times the tail's own error; the
  // two roundings of x * (1 - tail) would add up to x * 6e-8 more). Limits: past the end the tail is 0
  // and a finite, so +inf gives +inf and -inf gives 0. Written x < 0 ? 0 : x, the max keeps nan (and
  // -0: GELU(-0) = -0).
  template <typename T>
  static OPBENCH_HD T forward(T x) {
    const T a = tail_abscissa(x);
    return fused_multiply_add(-a, gaussian_tail(a), x < T(0) ? T(0) : x);
  }

  // Phi(x) + x phi(x) = 1 - d for x > 0 and d otherwise, with d = Phi(-|x|) - |x| phi(x): one kernel
  // exp(-x^2 / 2) gives the density phi and, in float, the tail.
  template <typename T>
  static OPBENCH_HD T derivative(T x) {
    const T a = tail_abscissa(x);
    const T kernel = gaussian_kernel(a);
    const T d = fused_multiply_add(-a, kernel * T(kInvSqrt2Pi), gaussian_tail(a, kernel));
    return x > T(0) ? T(1) - d : d;
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

  template <typename T>
  static OPBENCH_HD T forward(T x) {
    return times_sigmoid(x, argument(x));
  }

  // dz/dx = a + 3 b x^2 overflows to inf where the slope is already exactly 0: the product is 0.
  template <typename T>
  static OPBENCH_HD T derivative(T x) {
    const T z = argument(x);
    const Logistic<T> s = logistic(z);
    const T dz_dx = fused_multiply_add(T(6 * kSqrt2OverPi * kTanhCubic), x * x, T(2 * kSqrt2OverPi));
    return s.value(z) + times_vanishing(x, times_vanishing(dz_dx, s.slope()));
  }
};

struct Silu {
  static constexpr const char* kName = "silu";

  template <typename T>
  static OPBENCH_HD T forward(T x) {
    return times_sigmoid(x, x);
  }

  template <typename T>
  static OPBENCH_HD T derivative(T x) {
    const Logistic<T> s = logistic(x);
    return s.value(x) + times_vanishing(x, s.slope());
  }
};

}  // namespace math
}  // namespace opbench

// Every op with kernels, for X-macros: the schemas, the CPU and CUDA registrations and the CUDA
// launchers' instantiations each expand this list once.
#define OPBENCH_ACTIVATIONS(X) X(Gelu) X(GeluTanh) X(Silu)

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
// float: the GELU tail from a fitted rational function and exp from a Cephes-style polynomial. Both are
// branch-free (selects, no libm calls, no std::fmin/fmax), so g++ -O3 vectorizes loops over them
// and nvcc inlines them. On the GPU the division and exp use the special-function unit instead
// (divide, exp_of): in bfloat16 an elementwise kernel runs near the SM's instruction issue limit
// at copy bandwidth, so instructions per element decide its speed (python -m opbench.sass).
// double: libm's erfc and exp, correctly rounded to within an ulp or so.
//
// Limits are exact by construction: f(+inf) = +inf, f(-inf) = 0, f'(+inf) = 1, f'(-inf) = 0, and nan
// stays nan. The selects below exist for these (inf * 0 would be nan).
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

// 2^n for an integer n in [-126, 127]: build the float's exponent field directly.
OPBENCH_HD float pow2i(int n) {
  const int32_t bits = (n + 127) << 23;
#if defined(__CUDA_ARCH__)
  return __int_as_float(bits);
#else
  float value;
  memcpy(&value, &bits, sizeof value);  // a register move once compiled; vectorizes
  return value;
#endif
}

// exp(a) for float, relative error about 1 ulp (Cephes expf). a = n ln2 + r with |r| <= ln2 / 2,
// exp(r) from a degree-7 polynomial, then scaled by 2^n. Below -87.33 the result would be
// subnormal; it is flushed to 0, which is also what makes the limits above exact.
OPBENCH_HD float exp_approx(float a) {
  const float clamped = a > 88.0f ? 88.0f : a;  // nan fails every comparison and stays nan
  // Round clamped / ln2 to the nearest integer: adding and subtracting 1.5 * 2^23 does it exactly.
  const float n = (clamped * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
  float r = clamped - n * 0.693359375f;  // ln2 split in two parts so that n * ln2 is exact
  r = r - n * -2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  const float exp_r = p * (r * r) + r + 1.0f;
  const int exponent = a < -87.33f ? 0 : static_cast<int>(n);  // keeps pow2i in range
  const float result = exp_r * pow2i(exponent);
  return a < -87.33f ? 0.0f : result;
}

// p / q for q in [0.88, 2^126]. On the GPU an IEEE division costs a reciprocal, four FMAs and a range
// check whose slow path (a call behind a barrier) serializes the elements of a pack; __fdividef is the
// reciprocal and one multiply, within 2 ulp of the tail (<= 0.5): GELU(x) moves by at most 6e-8 |x|.
OPBENCH_HD float divide(float p, float q) {
#if defined(__CUDA_ARCH__)
  return __fdividef(p, q);
#else
  return p / q;
#endif
}
OPBENCH_HD double divide(double p, double q) { return p / q; }

// Phi(-|x|) = 0.5 * erfc(|x| / sqrt(2)), the GELU tail probability, for float: a rational
// P(a) / Q(a) in a = |x| of degrees 6 and 7, fitted for least maximum absolute error on [0, 5.7]
// (1.4e-8, scripts/fit_gaussian_tail.py). Q > 0.88 on [0, inf). Past 5.7 the tail is below 6.2e-9,
// so 0 is as good as the float result gets: x * (1 - tail) rounds to x and x * tail to 0 within
// 3.5e-8. Thirteen FMAs and one division, no exp.
OPBENCH_HD float gaussian_tail(float x) {
  const float a = x < 0.0f ? -x : x;
  float p = 2.536260609e-05f;
  p = fused_multiply_add(p, a, -7.793776811e-04f);
  p = fused_multiply_add(p, a, 1.002901423e-02f);
  p = fused_multiply_add(p, a, -6.921984122e-02f);
  p = fused_multiply_add(p, a, 2.704470452e-01f);
  p = fused_multiply_add(p, a, -5.675115693e-01f);
  p = fused_multiply_add(p, a, 5.000000116e-01f);
  float q = 1.699436807e-04f;
  q = fused_multiply_add(q, a, 7.467017318e-05f);
  q = fused_multiply_add(q, a, -6.351846448e-04f);
  q = fused_multiply_add(q, a, 2.133374207e-02f);
  q = fused_multiply_add(q, a, -5.442096304e-02f);
  q = fused_multiply_add(q, a, 2.718812536e-01f);
  q = fused_multiply_add(q, a, -3.371371477e-01f);
  q = fused_multiply_add(q, a, 1.0f);
  const float tail = divide(p, q);
  return a > 5.7f ? 0.0f : tail;  // also where P / Q is inf / inf; nan fails the test and stays nan
}

OPBENCH_HD double gaussian_tail(double x) { return 0.5 * erfc(fabs(x) * kInvSqrt2); }

// On the GPU, exp from the special-function unit (ex2.approx of a * log2(e), flushing subnormals
// to 0 as exp_approx does): a few instructions instead of fourteen. Its error, 2 + 1.2 |a| ulp, only
// reaches the pdf term x * phi(x), where it stays below 3e-8 in absolute terms.
OPBENCH_HD float exp_of(float a) {
#if defined(__CUDA_ARCH__)
  return __expf(a);
#else
  return exp_approx(a);
#endif
}
OPBENCH_HD double exp_of(double a) { return exp(a); }

// Phi(x) from the tail on the far side of zero.
template <typename T>
OPBENCH_HD T gaussian_cdf(T x) {
  const T tail = gaussian_tail(x);
  return x > T(0) ? T(1) - tail : tail;
}

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
  const T e = exp_of(z < T(0) ? z : -z);  // nan stays nan
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

  // x > 0: x * (1 - tail) is computed as fused_multiply_add(-x, tail, x), one rounding of x - x * tail
  // instead of two (1 - tail first, then the product): the largest float error falls from about 0.5 ulp
  // of the result plus x * 3e-8 to 0.5 ulp plus x times the tail's own error. Where the tail is 0
  // (x > 5.7, +inf, float's largest value) the result is x itself: fma(-inf, 0, inf) would be nan.
  // x <= 0: x * tail, and 0 where the tail is 0 (x = -inf: the limit is 0, not -inf * 0 = nan).
  template <typename T>
  static OPBENCH_HD T forward(T x) {
    const T tail = gaussian_tail(x);
    const T positive = tail == T(0) ? x : fused_multiply_add(-x, tail, x);
    const T negative = times_vanishing(x, tail);
    return x > T(0) ? positive : negative;  // both arms computed first: g++ then makes one blend
  }

  template <typename T>
  static OPBENCH_HD T derivative(T x) {
    const T pdf = exp_of(T(-0.5) * x * x) * T(kInvSqrt2Pi);
    const T x_pdf = times_vanishing(x, pdf);  // x = +-inf: pdf = 0 and x * pdf -> 0
    // Named and computed before the cdf: in this order nvcc keeps the half-type backward at 40
    // registers (1536 resident threads per SM); with the cdf first it took 45 (1280).
    return gaussian_cdf(x) + x_pdf;
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

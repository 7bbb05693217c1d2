// Branch-free float exp, expm1, log, log1p, sigmoid, tanh and the normal
// distribution function (for GELU) for element loops under
// `#pragma omp simd`, included inside each ISA's namespace (like the other
// *_impl.h files) so that every ISA's copy is compiled with its own flags and
// the linker never mixes them. Written so that GCC and Clang vectorise them
// on every ISA: selects instead of branches, rounding by adding and
// subtracting 1.5 * 2^23 (no floor, which SSE2 lacks), and shifts instead of
// signed division. exp's range reduction and polynomial are the classic
// Cephes ones (expf). Errors against float64, measured over the whole float
// range for every ISA by tests/python/test_vmath.py: exp within 2 ulp where
// the result is a normal float (results below 2^-126 flush to 0); sigmoid
// within 3e-7 absolute and 3 ulp relative; tanh as its comment says; the
// activations built on expm1, log1p and normal_cdf (ELU, SELU, softplus,
// GELU) within the bounds that test states for each (GELU's 6 ulp held over
// every float too: 5.9 on the reference ISA, 5.3 on AVX2, by
// tests/cpp/test_vmath_floats.cpp). NaN stays NaN; +-inf give the limits.
// The including file provides <cstdint>, <cstring> and <limits>.

constexpr float kExpMax = 88.72283935546875f;   // log(FLT_MAX)
constexpr float kExpMin = -87.33654022216797f;  // log(FLT_MIN): below, 0

// p(r) 2^n: e^r for |r| <= ln2 / 2 + 0.1 by the Cephes polynomial, times
// 2^n built in two halves so that n = 128 (or -150) does not overflow early.
inline float exp_reduced(float n, float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni >> 1;
  const int32_t e1 = (half + 127) << 23, e2 = (ni - half + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &e1, 4);
  std::memcpy(&s2, &e2, 4);
  return p * s1 * s2;
}

constexpr float kRound = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = 2.12194440e-4f;  // ln2 = hi - lo, hi exact in 9 bits

// e^c for c already in [kExpMin, kExpMax]: no special values to sort out.
inline float exp_in_range(float c) {
  // c = n ln2 + r, |r| <= ln2 / 2 (ln2 split in two for exactness).
  const float n = (c * 1.44269504088896341f + kRound) - kRound;
  return exp_reduced(n, (c - n * kLn2Hi) + n * kLn2Lo);
}

// e^(a + b) for |a| <= 104 and |b| < 0.1, where the rounded sum a + b
// would lose b's low bits: a - n ln2hi is exact (both are multiples of a's
// ulp, the difference below 1), so b joins the small remainder instead.
inline float exp_split(float a, float b) {
  const float n = ((a + b) * 1.44269504088896341f + kRound) - kRound;
  return exp_reduced(n, ((a - n * kLn2Hi) + b) + n * kLn2Lo);
}

// The argument clamped to exp_in_range's range; NaN comes out as kExpMin,
// a number (callers that care return their own NaN).
inline float exp_clamp(float x) {
  const float c = x > kExpMin ? x : kExpMin;
  return c < kExpMax ? c : kExpMax;
}

inline float exp_vec(float x) {
  float y = exp_in_range(exp_clamp(x));
  y = x < kExpMin ? 0.f : y;
  y = x > kExpMax ? std::numeric_limits<float>::infinity() : y;
  return x != x ? x : y;
}

// log(x) for normal x > 0 (callers keep their arguments there). Within 2
// ulp of float64 over that range (measured by tests/python/test_normalization.py
// through LocalResponseNormalization's general beta).
inline float log_vec(float x) {
  int32_t bits;
  std::memcpy(&bits, &x, 4);
  int32_t e = ((bits >> 23) & 0xff) - 126;  // x = m 2^e, m in [0.5, 1)
  bits = (bits & 0x807fffff) | 0x3f000000;
  float m;
  std::memcpy(&m, &bits, 4);
  // Keep m in [sqrt(1/2), sqrt(2)) and take log(1 + (m - 1)) by polynomial.
  const bool low = m < 0.707106781186547524f;
  e = low ? e - 1 : e;
  m = low ? m + m - 1.f : m - 1.f;
  const float z = m * m;
  float p = 7.0376836292e-2f;
  p = p * m - 1.1514610310e-1f;
  p = p * m + 1.1676998740e-1f;
  p = p * m - 1.2420140846e-1f;
  p = p * m + 1.4249322787e-1f;
  p = p * m - 1.6668057665e-1f;
  p = p * m + 2.0000714765e-1f;
  p = p * m - 2.4999993993e-1f;
  p = p * m + 3.3333331174e-1f;
  const float fe = static_cast<float>(e);
  float y = p * m * z + fe * -2.12194440e-4f - 0.5f * z;
  return (m + y) + fe * 0.693359375f;
}

// 1 / (1 + e^-x): at the clamp's ends e^-x is 0 or 1.6e38, giving 1 and the
// smallest normal floats, as the limits do.
inline float sigmoid_vec(float x) {
  const float y = 1.f / (1.f + exp_in_range(exp_clamp(-x)));
  return x != x ? x : y;
}

// tanh(x) = x P(x^2) / Q(x^2) on |x| <= 9 (beyond, tanh rounds to +-1 in
// float, and P / Q would overflow): one path, no exp, a third of the time
// of two (a small-|x| polynomial beside 1 - 2 / (e^2|x| + 1)). P and Q are
// degree 4, fitted by weighted least squares to the relative error (2e-8 in
// float64); in float their roundings dominate. Over every float below 10
// (tests/cpp/test_vmath_floats.cpp with PCV_VMATH_STRIDE=1), on the reference
// ISA, the worse: within 4.2 ulp where |tanh| < 0.96, 4.1e-7 towards 1.
// NaN fails every comparison and stays NaN.
inline float tanh_vec(float x) {
  const float s = x * x;
  float p = 1.3357572020700204e-08f;
  p = p * s + 2.0611213413645503e-05f;
  p = p * s + 3.4957189055248162e-03f;
  p = p * s + 1.3381136166093621e-01f;
  p = p * s + 9.9999997952078923e-01f;
  float q = 7.7777586681912481e-07f;
  q = q * s + 3.2858478060681122e-04f;
  q = q * s + 2.5877481011914196e-02f;
  q = q * s + 4.6714451802556872e-01f;
  q = q * s + 1.f;
  // Near +-1 the roundings can overshoot by an ulp or two: clamped, so that
  // |tanh| <= 1 and its derivative 1 - y^2 is never negative.
  const float t = x * p / q;
  const float y = x > 9.f || t > 1.f ? 1.f : t;
  return x < -9.f || t < -1.f ? -1.f : y;
}

// e^x - 1, accurate near 0 where exp(x) - 1 would cancel: |x| < 0.5 by its
// Taylor series to x^8 (the next term is below 2^-24 of the result).
inline float expm1_vec(float x) {
  float p = 2.48015873e-5f;  // 1/8!
  p = p * x + 1.98412698e-4f;
  p = p * x + 1.38888889e-3f;
  p = p * x + 8.33333333e-3f;
  p = p * x + 4.16666667e-2f;
  p = p * x + 1.66666667e-1f;
  p = p * x + 0.5f;
  const float small = p * x * x + x;
  const float a = x < 0.f ? -x : x;
  return a < 0.5f ? small : exp_vec(x) - 1.f;  // NaN takes the second: NaN
}

// log(1 + t) for t in [0, 1], accurate for tiny t: log(u) * t / (u - 1)
// with u = 1 + t rounded cancels u's rounding error.
inline float log1p_vec(float t) {
  const float u = 1.f + t;
  const float d = u - 1.f;
  return d == 0.f ? t : log_vec(u) * (t / d);
}

// Phi(v) = (1 + erf(v / sqrt 2)) / 2, the standard normal distribution
// function, and e^(-v^2 / 2) beside it (GELU's derivative needs both).
// With z = |v| / sqrt 2: below 0.5, erf(z) = z P(z^2); above, the tail
// erfc(z) = e^(-z^2) R(1 / (1 + z)), never 1 - erf (no cancellation for
// negative v). P and R are least-squares fits (relative error 2e-7 and
// 3e-7 in float).
struct NormalCdf {
  float cdf, gauss;
  float left_tail_factor;  // where v < -0.5 sqrt 2: cdf = left_tail_factor * gauss
};

inline NormalCdf normal_cdf_vec(float v) {
  const float z = (v < 0.f ? -v : v) * 0.70710678118654752f;
  const float s = z * z;
  float p = 0.004728117f;
  p = p * s - 0.026762648f;
  p = p * s + 0.112829186f;
  p = p * s - 0.37612614f;
  p = p * s + 1.1283792f;
  const float half_erf = 0.5f * p * z;
  const float zc = z < 10.f ? z : 10.f;  // erfc(10) / 2 is below the smallest float
  const float t = 1.f / (1.f + zc);
  float r = -1.3087806f;
  r = r * t + 4.6660314f;
  r = r * t - 6.4188833f;
  r = r * t + 3.5018480f;
  r = r * t + 0.53603983f;
  r = r * t - 1.2443422f;
  r = r * t - 0.12379766f;
  r = r * t + 0.25603002f;
  r = r * t + 0.56670445f;
  r = r * t + 0.56405705f;
  r = r * t + 2.9387120e-06f;
  // z^2 = v^2 / 2 = hi^2 / 2 + (w - hi)(w + hi) / 2, w being |v| (clamped like
  // z) and hi its upper 12 mantissa bits: hi^2 is exact, and the rounding of
  // v / sqrt 2 does not reach the exponent.
  const float av = v < 0.f ? -v : v;
  const float w = av < 14.142136f ? av : 14.142136f;
  uint32_t bits;
  std::memcpy(&bits, &w, 4);
  bits &= 0xfffff000u;
  float hi;
  std::memcpy(&hi, &bits, 4);
  // -hi^2 / 2 has 24 significant bits at most and the small part
  // |b| < w^2 2^-11 < 0.1: exp_split takes them apart.
  const float b = -0.5f * (w - hi) * (w + hi);
  const float gauss = exp_split(-0.5f * hi * hi, b);
  const float tail = 0.5f * r * gauss;
  float cdf = v < 0.f ? tail : 1.f - tail;
  cdf = z < 0.5f ? (v < 0.f ? 0.5f - half_erf : 0.5f + half_erf) : cdf;
  return {v != v ? v : cdf, gauss, 0.5f * r};
}

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
// activations built on expm1, log1p and the normal distribution (ELU,
// SELU, softplus, GELU) within the bounds that test states for each (GELU's
// 6 ulp held over every float too, by tests/cpp/test_vmath_floats.cpp: 5.4
// with PCV_VMATH_STRIDE=1 on the reference ISA and on AVX2).
// NaN stays NaN; +-inf give the limits.
// The including file provides <algorithm>, <cmath>, <cstdint>, <cstring>
// and <limits>.

constexpr float kExpMax = 88.72283935546875f;   // log(FLT_MAX)
constexpr float kExpMin = -87.33654022216797f;  // log(FLT_MIN): below, 0

// e^r for |r| <= ln2 / 2 + 0.1: the Cephes polynomial.
inline float exp_poly(float r) {
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  return p * r * r + r + 1.f;
}

constexpr float kRound = 12582912.f;  // 1.5 * 2^23: adding it rounds to an integer
constexpr float kLn2Hi = 0.693359375f, kLn2Lo = 2.12194440e-4f;  // ln2 = hi - lo, hi exact in 9 bits

// 2^n from the rounding sum k = n + 1.5 * 2^23 (exact): n + 127 is the
// exponent field, read from k's low bits. Normal for n in [-126, 127];
// n = 128 gives +inf. Unsigned: where a caller discards the result, n may be
// anything.
inline float pow2_of_rounded(float k) {
  uint32_t e;
  std::memcpy(&e, &k, 4);
  e = (e + (127u - 0x4B400000u)) << 23;
  float scale;
  std::memcpy(&scale, &e, 4);
  return scale;
}

// c = n ln2 + r, |r| <= ln2 / 2 (ln2 split in two for exactness), with the
// rounding sum k = n + 1.5 * 2^23 that gave n.
struct ExpReduction {
  float k, n, r;
};
inline ExpReduction reduce_exp(float c) {
  const float k = c * 1.44269504088896341f + kRound;
  const float n = k - kRound;
  return {k, n, (c - n * kLn2Hi) + n * kLn2Lo};
}

// e^c for c already in [kExpMin, kExpMax]: no special values to sort out.
// 2^n is built in two halves so that n = 128 (or -150) does not overflow
// early.
inline float exp_in_range(float c) {
  const ExpReduction e = reduce_exp(c);
  const int32_t ni = static_cast<int32_t>(e.n);
  const int32_t half = ni >> 1;
  const int32_t e1 = (half + 127) << 23, e2 = (ni - half + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &e1, 4);
  std::memcpy(&s2, &e2, 4);
  return exp_poly(e.r) * s1 * s2;
}

// The same with one scale, a few instructions fewer: +inf where n = 128
// (c above 127.5 ln2 = 88.38) instead of the largest floats.
inline float exp_one_scale(float c) {
  const ExpReduction e = reduce_exp(c);
  return exp_poly(e.r) * pow2_of_rounded(e.k);
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

// 1 / (1 + e^-x): at the clamp's ends e^-x is 1.2e-38 or +inf, giving 1 and
// 0, the limits; 0 too from x = -88.38 on, where e^-x's one scale is +inf
// and sigmoid is below the smallest normal float (one scale: 17% faster
// than exp's two on AVX2).
inline float sigmoid_vec(float x) {
  const float y = 1.f / (1.f + exp_one_scale(exp_clamp(-x)));
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

// The normal density's e^(a + b) / sqrt(2 pi) for a + b in [kExpMin, 0]
// (a normal scale) and |b| < 0.1, where the rounded sum a + b would lose
// b's low bits: a - n ln2hi is exact (both are multiples of a's ulp, the
// difference below 1), so b joins the small remainder r instead. One scale
// 2^n, its exponent read from the bits of the rounding sum (n + 1.5 * 2^23,
// exact); e^r by a degree-6 minimax polynomial on |r| <= ln2 / 2 (3e-9
// relative in float64), fitted here, with 1 / sqrt(2 pi) in its
// coefficients: 3e-8 with that constant rounded to float, one rounding
// fewer than a product after it.
inline float normal_density_split(float a, float b) {
#ifdef __FP_FAST_FMAF  // b is w^2's rounding error, |b| < 1e-5: n from a alone
  const float k = a * 1.44269504088896341f + kRound;
#else
  const float k = (a + b) * 1.44269504088896341f + kRound;
#endif
  const float n = k - kRound;
  const float r = ((a - n * kLn2Hi) + b) + n * kLn2Lo;
  float p = 5.51120320e-4f;
  p = p * r + 3.33864638e-3f;
  p = p * r + 1.66232828e-2f;
  p = p * r + 6.64898008e-2f;
  p = p * r + 1.99471116e-1f;
  p = p * r + 3.98942292e-1f;
  p = p * r + 3.98942292e-1f;
  return p * pow2_of_rounded(k);
}

// The standard normal distribution's tail Phi(-w), w = |v| (for GELU), as
// the density phi(w) = e^(-w^2 / 2) / sqrt(2 pi) times Mills's ratio
// M(w) = Phi(-w) / phi(w); never 1 - Phi (no cancellation for negative v).
// One formula from 0 to kNormalTailEnd, without branches: 1 / M(w) = w +
// h(w) with h smooth (sqrt(2 / pi) at 0, falling like 1 / w), and h = P / Q,
// so M = Q / (w Q + P). h is a rational P3 / Q4 fitted by weighted least
// squares to h's error relative to w + h on [0, kNormalTailEnd] (4e-8 in
// float64); P and Q have positive coefficients (Horner's rule does not
// cancel for w >= 0). Written that way, Q's rounding errors cancel in the
// quotient and P's shrink by h / (w + h) where w is large: M within 2e-7 in
// float. (A polynomial in t = c / (c + w), or G = e^(w^2 / 2) Phi(-w) as one
// rational function, erred twice as much, from t's roundings near 0 or
// from Horner's rule at large w.)
//
// |v| beyond which v Phi(v) for negative v is below the smallest normal
// float (5.8e-39 at -13.2) while the density's scale 2^n is still normal
// (n = -126; e^(-v^2 / 2) is 1.5e-38).
constexpr float kNormalTailEnd = 13.2f;

struct NormalTail {
  float mills, pdf;  // Phi(-w) = mills * pdf, pdf = e^(-w^2 / 2) / sqrt(2 pi)
};

// Builds for size (-Os: the runtime-only ones) keep the tail out of line, one
// copy for GELU's forward and backward loops: inlined, the compiler
// vectorises each loop around its own copy (+1.5 KB in the smallest runtime).
#ifdef __OPTIMIZE_SIZE__
#define PCV_SIZE_NOINLINE [[gnu::noinline]]
#else
#define PCV_SIZE_NOINLINE
#endif

// For 0 <= w <= kNormalTailEnd; beyond (and for NaN) the values are
// meaningless and the callers select theirs, so w needs no clamp here.
PCV_SIZE_NOINLINE inline NormalTail normal_tail(float w) {
  float p = 1.13700666e-2f;
  p = p * w + 1.01728089e-1f;
  p = p * w + 3.95627499e-1f;
  p = p * w + 7.97884524e-1f;
  float q = 1.13806063e-2f;
  q = q * w + 1.01348557e-1f;
  q = q * w + 4.24138278e-1f;
  q = q * w + 9.51272607e-1f;
  q = q * w + 1.f;
  const float mills = q / (w * q + p);
  // e^(-w^2 / 2) needs w^2 to more than float's precision (for w = 13,
  // a relative 2^-24 of w^2 is 5e-6 of the result).
#ifdef __FP_FAST_FMAF  // w^2 = s + e exactly, in two instructions
  const float s = w * w, e = std::fma(w, w, -s);
  return {mills, normal_density_split(-0.5f * s, -0.5f * e)};
#else
  // Without FMA, w^2 / 2 = hi^2 / 2 + (w - hi)(w + hi) / 2, hi being w's
  // upper 12 mantissa bits: hi^2 is exact, and -hi^2 / 2 has 24 significant
  // bits at most; the small part |b| < w^2 2^-11 < 0.1 rides beside it.
  uint32_t bits;
  std::memcpy(&bits, &w, 4);
  bits &= 0xfffff000u;
  float hi;
  std::memcpy(&hi, &bits, 4);
  const float b = -0.5f * (w - hi) * (w + hi);
  return {mills, normal_density_split(-0.5f * hi * hi, b)};
#endif
}

// GELU(v) = v Phi(v) = max(v, 0) - |v| Phi(-|v|): for negative v the second
// term alone, for positive v the first less a part at most half of it (no
// cancellation either way). -0 rather than 0 for negative v, as v Phi(v) is;
// beyond kNormalTailEnd the first term alone (v, or -0 where v Phi(v) is
// below the smallest normal float). NaN fails v < 0 and |v| > kNormalTailEnd
// and comes out of the subtraction as NaN.
inline float gelu_vec(float v) {
  const float w = std::fabs(v);
  const NormalTail tail = normal_tail(w);
  const float m = std::max(v, -0.f);
  const float y = m - (w * tail.mills) * tail.pdf;
  return w > kNormalTailEnd ? m : y;
}

// GELU's derivative Phi(v) + v phi(v): 0 and 1 beyond the tail's end (NaN
// stays NaN through the tail's arithmetic).
inline float gelu_grad_vec(float v) {
  const float w = std::fabs(v);
  const NormalTail tail = normal_tail(w);
  const float left = tail.mills * tail.pdf;
  const float cdf = v < 0.f ? left : 1.f - left;
  const float g = cdf + v * tail.pdf;
  const float ends = v > 0.f ? 1.f : 0.f;
  return w > kNormalTailEnd ? ends : g;
}

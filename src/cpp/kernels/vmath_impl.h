// Branch-free float exp, log, sigmoid and tanh for element loops under
// `#pragma omp simd`, included inside each ISA's namespace (like the other
// *_impl.h files) so that every ISA's copy is compiled with its own flags and
// the linker never mixes them. Written so that GCC and Clang vectorise them
// on every ISA: selects instead of branches, rounding by adding and
// subtracting 1.5 * 2^23 (no floor, which SSE2 lacks), and shifts instead of
// signed division. Range reduction and polynomials are the classic Cephes
// ones (expf, tanhf). Errors against float64, measured over the whole float
// range for every ISA by tests/python/test_vmath.py: exp within 2 ulp where
// the result is a normal float (results below 2^-126 flush to 0); sigmoid and
// tanh within 3e-7 absolute and 3 ulp relative. NaN stays NaN; +-inf give the
// limits. The including file provides <cstdint>, <cstring> and <limits>.

inline float exp_vec(float x) {
  constexpr float kMax = 88.72283935546875f;   // log(FLT_MAX)
  constexpr float kMin = -87.33654022216797f;  // log(FLT_MIN): below, 0
  constexpr float kRound = 12582912.f;         // 1.5 * 2^23: adding it rounds to an integer
  float c = x < kMin ? kMin : x;
  c = c > kMax ? kMax : c;
  // x = n ln2 + r, |r| <= ln2 / 2 (ln2 split in two for exactness).
  const float n = (c * 1.44269504088896341f + kRound) - kRound;
  const float r = (c - n * 0.693359375f) + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.f;
  // p * 2^n, with 2^n built in two halves so that n = 128 does not overflow early.
  const int32_t ni = static_cast<int32_t>(n);
  const int32_t half = ni >> 1;
  const int32_t e1 = (half + 127) << 23, e2 = (ni - half + 127) << 23;
  float s1, s2;
  std::memcpy(&s1, &e1, 4);
  std::memcpy(&s2, &e2, 4);
  float y = p * s1 * s2;
  y = x < kMin ? 0.f : y;
  y = x > kMax ? std::numeric_limits<float>::infinity() : y;
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

inline float sigmoid_vec(float x) { return 1.f / (1.f + exp_vec(-x)); }

inline float tanh_vec(float x) {
  const float a = x < 0.f ? -x : x;
  // Small |x|: an odd polynomial (no cancellation); else 1 - 2 / (e^2|x| + 1).
  const float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  const float small = p * z * x + x;
  const float big = 1.f - 2.f / (exp_vec(2.f * a) + 1.f);
  const float large = x < 0.f ? -big : big;
  return a < 0.625f ? small : (x != x ? x : large);
}

// The local response normalization kernels' source, included once per ISA
// inside that ISA's namespace (lrn_ref.cpp, lrn_avx2.cpp), with vmath_impl.h
// before it. Channels are innermost, so a window sum is 2 * radius + 1
// shifted vector adds over a row of squares padded with zeros. The including
// file provides <algorithm>, <cmath>, <cstdint>, <cstring>, <limits>,
// <type_traits>, kernels/lrn.h and kernels/scratch.h.

namespace {

// base^-beta: square roots for AlexNet's 0.75 and the common 0.5 and 1,
// exp(-beta log base) for any other beta. base >= bias > 0.
enum class Power { Zero, Half, ThreeQuarters, One, Any };

template <Power P>
inline float negative_power(float base, float beta) {
  switch (P) {
    case Power::Zero: return 1.f;
    case Power::Half: return 1.f / std::sqrt(base);
    case Power::ThreeQuarters: {
      const float r = 1.f / std::sqrt(base);
      return r * std::sqrt(r);
    }
    case Power::One: return 1.f / base;
    default: {
      constexpr float kMin = std::numeric_limits<float>::min();
      constexpr float kMax = std::numeric_limits<float>::max();
      const float b = base < kMin ? kMin : base;  // log_vec wants a normal float
      const float p = exp_vec(-beta * log_vec(b));
      return b > kMax ? 0.f : p;
    }
  }
}

template <class Fn>
void with_power(float beta, Fn fn) {
  if (beta == 0.f) return fn(std::integral_constant<Power, Power::Zero>());
  if (beta == 0.5f) return fn(std::integral_constant<Power, Power::Half>());
  if (beta == 0.75f) return fn(std::integral_constant<Power, Power::ThreeQuarters>());
  if (beta == 1.f) return fn(std::integral_constant<Power, Power::One>());
  fn(std::integral_constant<Power, Power::Any>());
}

// s_c = sum of padded[c .. c + 2 radius]: the window around channel c when
// padded[radius + c] holds channel c's value and the ends hold zeros.
inline void window_sums(const float* padded, float* s, int64_t C, int64_t radius) {
  std::fill(s, s + C, 0.f);
  for (int64_t k = 0; k <= 2 * radius; ++k) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) s[c] += padded[c + k];
  }
}

}  // namespace

void lrn_forward_f32(const LrnParams& p, const float* x, float* y, float* base, float* scale,
                     int64_t rows, int64_t C) {
  const int64_t radius = std::min(p.radius, C - 1);  // a wider window only adds zeros
  // Per-thread scratch, kept: a warm call allocates nothing.
  thread_local Scratch<float> t_padded, t_s, t_b, t_sc;
  float* padded = t_padded.get(C + 2 * radius);
  std::fill(padded, padded + C + 2 * radius, 0.f);
  float *s = t_s.get(C), *b = t_b.get(C), *sc = t_sc.get(C);
  with_power(p.beta, [&](auto power) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * C;
      float* sq = padded + radius;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) sq[c] = xr[c] * xr[c];
      window_sums(padded, s, C, radius);
      float* yr = y + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        b[c] = p.bias + p.alpha * s[c];
        sc[c] = negative_power<decltype(power)::value>(b[c], p.beta);
        yr[c] = xr[c] * sc[c];
      }
      if (base) std::memcpy(base + r * C, b, C * sizeof(float));
      if (scale) std::memcpy(scale + r * C, sc, C * sizeof(float));
    }
  });
}

void lrn_backward_f32(const LrnParams& p, const float* x, const float* dy, const float* base,
                      const float* scale, float* dx, int64_t rows, int64_t C) {
  const int64_t radius = std::min(p.radius, C - 1);
  thread_local Scratch<float> t_padded, t_u;
  float* padded = t_padded.get(C + 2 * radius);
  std::fill(padded, padded + C + 2 * radius, 0.f);
  float* u = t_u.get(C);
  const float k = 2.f * p.alpha * p.beta;
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t o = r * C;
    // t_c = dy_c x_c base_c^(-beta - 1): what channel c sends back to its window.
    float* t = padded + radius;
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) t[c] = dy[o + c] * x[o + c] * scale[o + c] / base[o + c];
    window_sums(padded, u, C, radius);
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) dx[o + c] = dy[o + c] * scale[o + c] - k * x[o + c] * u[c];
  }
}

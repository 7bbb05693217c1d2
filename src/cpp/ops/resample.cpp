#include "ops/resample.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace pyconv::ops {

FillMode parse_fill_mode(const std::string& name, const std::string& who) {
  if (name == "reflect") return FillMode::Reflect;
  if (name == "wrap") return FillMode::Wrap;
  if (name == "nearest") return FillMode::Nearest;
  if (name == "constant") return FillMode::Constant;
  throw ValueError(cat(who, ": fill_mode must be 'reflect', 'wrap', 'nearest' or 'constant', "
                            "received '", name, "'"));
}

Interpolation parse_interpolation(const std::string& name, const std::string& who) {
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "nearest") return Interpolation::Nearest;
  throw ValueError(cat(who, ": interpolation must be 'bilinear' or 'nearest', received '", name,
                       "'"));
}

AffineMap resize_map(double top, double height, double left, double width, int64_t OH,
                     int64_t OW) {
  // Output pixel r covers [r, r + 1) of OH; its centre r + 0.5 lands at
  // top + (r + 0.5) * height / OH in the input, whose pixel centres sit at
  // i + 0.5: so y = top + (r + 0.5) * sy - 0.5.
  const double sy = height / static_cast<double>(OH), sx = width / static_cast<double>(OW);
  AffineMap m;
  m.yr = static_cast<float>(sy);
  m.yc = 0.f;
  m.y0 = static_cast<float>(top + 0.5 * sy - 0.5);
  m.xr = 0.f;
  m.xc = static_cast<float>(sx);
  m.x0 = static_cast<float>(left + 0.5 * sx - 0.5);
  return m;
}

namespace {

// Index i of an axis of n pixels after the fill rule: -1 reads the fill value.
int64_t fill_index(int64_t i, int64_t n, FillMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case FillMode::Nearest:
      return i < 0 ? 0 : n - 1;
    case FillMode::Wrap:
      return ((i % n) + n) % n;
    case FillMode::Reflect: {
      const int64_t m = ((i % (2 * n)) + 2 * n) % (2 * n);
      return m < n ? m : 2 * n - 1 - m;
    }
    case FillMode::Constant:
      break;
  }
  return -1;
}

// The (at most two) pixels one coordinate reads along an axis, and their weights.
struct Taps {
  int64_t at[2];
  float w[2];
  int count;
};

constexpr float kCoordLimit = 1e12f;

Taps taps(float v, float lo_limit, float hi_limit, int64_t n, const ResampleGeometry& g) {
  v = std::min(std::max(v, lo_limit), hi_limit);
  Taps t;
  if (g.interpolation == Interpolation::Nearest) {
    t.at[0] = fill_index(static_cast<int64_t>(std::floor(v + 0.5f)), n, g.fill);
    t.w[0] = 1.f;
    t.count = 1;
    return t;
  }
  const float lo = std::floor(v);
  const float frac = v - lo;
  const int64_t i = static_cast<int64_t>(lo);
  t.at[0] = fill_index(i, n, g.fill);
  t.w[0] = 1.f - frac;
  t.count = 1;
  if (frac > 0.f) {  // a pixel centre reads that pixel alone, exactly
    t.at[1] = fill_index(i + 1, n, g.fill);
    t.w[1] = frac;
    t.count = 2;
  }
  return t;
}

// The range points are clamped to: the clamp window, or far beyond any image
// yet safe to convert to an integer.
void limits(const ResampleGeometry& g, float ylim[2], float xlim[2]) {
  ylim[0] = g.clamp ? g.y_lo : -kCoordLimit;
  ylim[1] = g.clamp ? g.y_hi : kCoordLimit;
  xlim[0] = g.clamp ? g.x_lo : -kCoordLimit;
  xlim[1] = g.clamp ? g.x_hi : kCoordLimit;
}

}  // namespace

void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                      const AffineMap* maps, int threads) {
  const int64_t H = g.H, W = g.W, C = g.C, OH = g.OH, OW = g.OW;
  const int64_t rows = N * OH;
  float ylim[2], xlim[2];
  limits(g, ylim, xlim);
#pragma omp parallel for num_threads(threads) if (rows * OW * C > 32768)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t n = row / OH, r = row % OH;
    const AffineMap& m = maps[n];
    const float* image = in + n * H * W * C;
    float* dst = out + row * OW * C;
    for (int64_t c = 0; c < OW; ++c, dst += C) {
      const float fr = static_cast<float>(r), fc = static_cast<float>(c);
      const Taps ty = taps(m.yr * fr + m.yc * fc + m.y0, ylim[0], ylim[1], H, g);
      const Taps tx = taps(m.xr * fr + m.xc * fc + m.x0, xlim[0], xlim[1], W, g);
      std::fill(dst, dst + C, 0.f);
      for (int a = 0; a < ty.count; ++a)
        for (int b = 0; b < tx.count; ++b) {
          const float w = ty.w[a] * tx.w[b];
          if (ty.at[a] < 0 || tx.at[b] < 0) {
            for (int64_t k = 0; k < C; ++k) dst[k] += w * g.fill_value;
            continue;
          }
          const float* src = image + (ty.at[a] * W + tx.at[b]) * C;
          for (int64_t k = 0; k < C; ++k) dst[k] += w * src[k];
        }
    }
  }
}

void resample_backward(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                       const AffineMap* maps, int threads) {
  const int64_t H = g.H, W = g.W, C = g.C, OH = g.OH, OW = g.OW;
  float ylim[2], xlim[2];
  limits(g, ylim, xlim);
  // One image per iteration: the pixels an image's outputs read are its own.
#pragma omp parallel for num_threads(threads) if (N * OH * OW * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const AffineMap& m = maps[n];
    float* image = din + n * H * W * C;
    std::memset(image, 0, sizeof(float) * static_cast<size_t>(H * W * C));
    const float* src = dout + n * OH * OW * C;
    for (int64_t r = 0; r < OH; ++r)
      for (int64_t c = 0; c < OW; ++c, src += C) {
        const float fr = static_cast<float>(r), fc = static_cast<float>(c);
        const Taps ty = taps(m.yr * fr + m.yc * fc + m.y0, ylim[0], ylim[1], H, g);
        const Taps tx = taps(m.xr * fr + m.xc * fc + m.x0, xlim[0], xlim[1], W, g);
        for (int a = 0; a < ty.count; ++a)
          for (int b = 0; b < tx.count; ++b) {
            if (ty.at[a] < 0 || tx.at[b] < 0) continue;  // the fill value has no input
            const float w = ty.w[a] * tx.w[b];
            float* dst = image + (ty.at[a] * W + tx.at[b]) * C;
            for (int64_t k = 0; k < C; ++k) dst[k] += w * src[k];
          }
      }
  }
}

}  // namespace pyconv::ops

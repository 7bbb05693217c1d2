// The resampling kernels' source, included once per ISA inside that ISA's
// namespace (resample_ref.cpp, resample_avx2.cpp). forward_impl takes the
// ISA's fast path for a run of pixels of a row (the reference has none); every
// other pixel, and the backward pass, are the scalar code here. The including
// file provides <algorithm>, <cstdint>, <cstring> and kernels/resample.h.

namespace {

// The point output pixel (r, c) reads.
inline float map_y(const AffineMap& m, float r, float c) { return m.yr * r + m.yc * c + m.y0; }
inline float map_x(const AffineMap& m, float r, float c) { return m.xr * r + m.xc * c + m.x0; }

// Index i of an axis of n pixels after the fill rule: -1 reads the fill value.
int64_t fill_index(int64_t i, int64_t n, FillMode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case FillMode::Nearest:
      return i < 0 ? 0 : n - 1;
    case FillMode::Wrap:
      if (i >= -n && i < 2 * n) return i < 0 ? i + n : i - n;  // one period away: no division
      return ((i % n) + n) % n;
    case FillMode::Reflect: {
      if (i >= -n && i < 2 * n) return i < 0 ? -1 - i : 2 * n - 1 - i;
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

// floor(v) as an integer, for |v| <= kCoordLimit, without a libm call (a
// plain x86-64 build has no rounding instruction).
inline int64_t floor_int(float v) {
  const auto i = static_cast<int64_t>(v);  // toward zero
  return i - (static_cast<float>(i) > v);
}

// For a coordinate already clamped (Sampler::inside does it).
Taps taps(float v, int64_t n, const ResampleGeometry& g) {
  Taps t;
  if (g.interpolation == Interpolation::Nearest) {
    t.at[0] = fill_index(floor_int(v + 0.5f), n, g.fill);
    t.w[0] = 1.f;
    t.count = 1;
    return t;
  }
  const int64_t i = floor_int(v);
  const float frac = v - static_cast<float>(i);
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

// The pixels a point reads near or past the border (offsets into its image,
// -1 for the fill value) and their weights.
struct Corners {
  int64_t at[4];
  float w[4];
  int count;
};

// Where points of one geometry read. The loops keep one as a local copy: its
// fields then stay in registers, where a geometry behind a reference would be
// read again after every store to the output.
struct Sampler {
  explicit Sampler(const ResampleGeometry& geom)
      : g(geom),
        bilinear(g.interpolation == Interpolation::Bilinear),
        y_lo(g.clamp ? g.y_lo : -kCoordLimit),
        y_hi(g.clamp ? g.y_hi : kCoordLimit),
        x_lo(g.clamp ? g.x_lo : -kCoordLimit),
        x_hi(g.clamp ? g.x_hi : kCoordLimit) {}

  // The common case: a point whose pixels (four for bilinear, one for
  // nearest) are all in the image. Gives the offset of the first (top left),
  // the steps to its right and lower neighbours (0 on the last column or row,
  // where a point on the pixel centre reads that pixel alone) and their
  // weights, as scalars the compiler keeps in registers; false for a point
  // near or past the border.
  [[gnu::always_inline]] bool inside(float& y, float& x, int64_t& at, int64_t& right,
                                     int64_t& below, float& wy, float& wx) const {
    y = std::min(std::max(y, y_lo), y_hi);
    x = std::min(std::max(x, x_lo), x_hi);
    const float half = bilinear ? 0.f : 0.5f;
    const int64_t iy = floor_int(y + half), ix = floor_int(x + half);
    if (iy < 0 || iy >= g.H || ix < 0 || ix >= g.W) return false;
    at = (iy * g.W + ix) * g.C;
    right = below = 0;
    wy = wx = 0.f;
    if (!bilinear) return true;
    wy = y - static_cast<float>(iy), wx = x - static_cast<float>(ix);
    if ((iy + 1 == g.H && wy > 0.f) || (ix + 1 == g.W && wx > 0.f)) return false;
    right = ix + 1 < g.W ? g.C : 0;
    below = iy + 1 < g.H ? g.W * g.C : 0;
    return true;
  }

  // Any other point (already clamped by inside()): the fill rule decides
  // what it reads. Out of line: the loops inline only the common case.
  [[gnu::noinline]] Corners border(float y, float x) const {
    const Taps ty = taps(y, g.H, g), tx = taps(x, g.W, g);
    Corners s;
    s.count = 0;
    for (int a = 0; a < ty.count; ++a)
      for (int b = 0; b < tx.count; ++b) {
        const bool fill = ty.at[a] < 0 || tx.at[b] < 0;
        s.at[s.count] = fill ? -1 : (ty.at[a] * g.W + tx.at[b]) * g.C;
        s.w[s.count++] = ty.w[a] * tx.w[b];
      }
    return s;
  }

  const ResampleGeometry g;
  const bool bilinear;
  // Points are clamped here: the clamp window, or far beyond any image yet
  // safe to convert to an integer.
  const float y_lo, y_hi, x_lo, x_hi;
};

// One output pixel of the forward pass: dst = the input read at (y, x).
inline void pixel_forward(const Sampler& sampler, const float* image, float* dst, float y,
                          float x) {
  const int64_t C = sampler.g.C;
  float wy, wx;
  int64_t at, right, below;
  if (sampler.inside(y, x, at, right, below, wy, wx)) {
    const float* p = image + at;
    if (!sampler.bilinear) {
      for (int64_t k = 0; k < C; ++k) dst[k] = p[k];  // a loop: C is often 1
      return;
    }
    for (int64_t k = 0; k < C; ++k) {
      const float top = (1.f - wx) * p[k] + wx * p[k + right];
      const float bottom = (1.f - wx) * p[k + below] + wx * p[k + below + right];
      dst[k] = (1.f - wy) * top + wy * bottom;
    }
    return;
  }
  const Corners s = sampler.border(y, x);
  for (int64_t k = 0; k < C; ++k) dst[k] = 0.f;
  for (int j = 0; j < s.count; ++j) {
    if (s.at[j] < 0) {
      for (int64_t k = 0; k < C; ++k) dst[k] += s.w[j] * sampler.g.fill_value;
      continue;
    }
    const float* src = image + s.at[j];
    for (int64_t k = 0; k < C; ++k) dst[k] += s.w[j] * src[k];
  }
}

// Output row r of one image: fast(sampler, map, image, row_out, r, c) does
// pixels c, c + 1, ... if it can, and returns how many (0: none); the scalar
// code does the rest.
template <class Fast>
inline void forward_row(const Sampler& sampler, const AffineMap m, const float* image,
                        float* dst, int64_t r, Fast& fast) {  // m by value: no store reaches it
  const int64_t C = sampler.g.C, OW = sampler.g.OW;
  const float fr = static_cast<float>(r);
  for (int64_t c = 0; c < OW;) {
    const int64_t done = fast(sampler, m, image, dst, r, c);
    if (done > 0) {
      c += done;
      continue;
    }
    const float fc = static_cast<float>(c);
    pixel_forward(sampler, image, dst + c * C, map_y(m, fr, fc), map_x(m, fr, fc));
    ++c;
  }
}

// Every output row of every image, the rows shared among threads.
template <class Fast>
void forward_impl(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                  const AffineMap* maps, int threads, Fast fast) {
  const int64_t H = g.H, W = g.W, C = g.C, OH = g.OH, OW = g.OW;
  const int64_t rows = N * OH;
  parallel_for(rows * OW * C > 32768 ? threads : 1, rows, [&](int64_t row) {
    const int64_t n = row / OH, r = row % OH;
    const Sampler sampler(g);
    forward_row(sampler, maps[n], in + n * H * W * C, out + row * OW * C, r, fast);
  });
}

void backward_impl(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                   const AffineMap* maps, int threads) {
  const int64_t H = g.H, W = g.W, C = g.C, OH = g.OH, OW = g.OW;
  // One image per iteration: the pixels an image's outputs read are its own.
  parallel_for(N * OH * OW * C > 32768 ? threads : 1, N, [&](int64_t n) {
    const Sampler sampler(g);
    const AffineMap m = maps[n];
    float* image = din + n * H * W * C;
    std::memset(image, 0, sizeof(float) * static_cast<size_t>(H * W * C));
    const float* src = dout + n * OH * OW * C;
    for (int64_t r = 0; r < OH; ++r) {
      const float fr = static_cast<float>(r);
      for (int64_t c = 0; c < OW; ++c, src += C) {
        const float fc = static_cast<float>(c);
        float y = map_y(m, fr, fc), x = map_x(m, fr, fc), wy, wx;
        int64_t at, right, below;
        if (sampler.inside(y, x, at, right, below, wy, wx)) {
          float* p = image + at;
          for (int64_t k = 0; k < C; ++k) {
            if (!sampler.bilinear) {
              p[k] += src[k];
              continue;
            }
            // On the last row or column a step is 0 and its weight is 0 too.
            p[k] += (1.f - wy) * (1.f - wx) * src[k];
            p[k + right] += (1.f - wy) * wx * src[k];
            p[k + below] += wy * (1.f - wx) * src[k];
            p[k + below + right] += wy * wx * src[k];
          }
          continue;
        }
        const Corners s = sampler.border(y, x);
        for (int j = 0; j < s.count; ++j) {
          if (s.at[j] < 0) continue;  // the fill value has no input
          float* dst = image + s.at[j];
          for (int64_t k = 0; k < C; ++k) dst[k] += s.w[j] * src[k];
        }
      }
    }
  });
}

}  // namespace

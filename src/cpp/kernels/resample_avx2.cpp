// The resampling kernels built for the "avx2" ISA (flags: see
// src/cpp/CMakeLists.txt): eight output pixels of a grey (one-channel) image
// at a time, their pixels gathered after the fill rule; points far outside
// the image, and images of several channels, take the scalar code of
// resample_impl.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/threads.h"
#include "kernels/resample.h"

namespace pyconv::kernels::avx2 {

#include "kernels/resample_impl.h"
#include "kernels/scratch.h"

namespace {

// Indices i (lane by lane) of an axis of n pixels after the fill rule, for
// i within one period of the image (-n <= i < 2n: the caller checks), and
// which of them read a pixel (all but the constant fill's outside ones).
struct Mapped {
  __m256i at;
  __m256i valid;
};

Mapped fill_rule(__m256i i, int n, FillMode mode) {
  const __m256i zero = _mm256_setzero_si256(), vn = _mm256_set1_epi32(n);
  const __m256i below = _mm256_cmpgt_epi32(zero, i);  // i < 0
  const __m256i above = _mm256_cmpgt_epi32(i, _mm256_sub_epi32(vn, _mm256_set1_epi32(1)));
  const __m256i all = _mm256_set1_epi32(-1);
  switch (mode) {
    case FillMode::Nearest:
      return {_mm256_min_epi32(_mm256_max_epi32(i, zero), _mm256_sub_epi32(vn, _mm256_set1_epi32(1))),
              all};
    case FillMode::Wrap:
      return {_mm256_sub_epi32(_mm256_add_epi32(i, _mm256_and_si256(below, vn)),
                               _mm256_and_si256(above, vn)),
              all};
    case FillMode::Reflect: {
      // -1 - i below the image, 2n - 1 - i above it.
      const __m256i low = _mm256_sub_epi32(_mm256_set1_epi32(-1), i);
      const __m256i high = _mm256_sub_epi32(_mm256_set1_epi32(2 * n - 1), i);
      return {_mm256_blendv_epi8(_mm256_blendv_epi8(i, low, below), high, above), all};
    }
    case FillMode::Constant:
      break;
  }
  const __m256i valid = _mm256_andnot_si256(_mm256_or_si256(below, above), all);
  return {_mm256_and_si256(i, valid), valid};  // index 0 where the fill value is read
}

// A gather of the pixels at row * W + col where both are valid, the fill
// value elsewhere.
__m256 read(const float* image, const Mapped& row, const Mapped& col, int W, float fill) {
  const __m256 valid = _mm256_castsi256_ps(_mm256_and_si256(row.valid, col.valid));
  const __m256i at = _mm256_add_epi32(_mm256_mullo_epi32(row.at, _mm256_set1_epi32(W)), col.at);
  return _mm256_mask_i32gather_ps(_mm256_set1_ps(fill), image, at, valid, 4);
}

// The pixels at image[at] and image[at + 1], lane by lane: a pixel and its
// right neighbour are adjacent in memory, so 64-bit gathers read both at
// once (half the loads of two 32-bit gathers), then the pairs are split.
void gather_pairs(const float* image, __m256i at, __m256& left, __m256& right) {
  const auto* pairs = reinterpret_cast<const double*>(image);
  // The masked form with every lane on: GCC 12's plain one warns of its own
  // uninitialised source operand.
  const __m256d none = _mm256_setzero_pd(), all = _mm256_castsi256_pd(_mm256_set1_epi32(-1));
  // a: l0 r0 l1 r1 | l2 r2 l3 r3, b: l4 r4 l5 r5 | l6 r6 l7 r7
  const __m256 a = _mm256_castpd_ps(
      _mm256_mask_i32gather_pd(none, pairs, _mm256_castsi256_si128(at), all, 4));
  const __m256 b = _mm256_castpd_ps(
      _mm256_mask_i32gather_pd(none, pairs, _mm256_extracti128_si256(at, 1), all, 4));
  // l0 l1 l4 l5 | l2 l3 l6 l7: the middle 64-bit halves change places.
  const __m256 l = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));
  const __m256 r = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
  left = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(l), _MM_SHUFFLE(3, 1, 2, 0)));
  right = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(r), _MM_SHUFFLE(3, 1, 2, 0)));
}

// Pixels of fill around each image's padded copy: enough for small
// rotations, shifts and zooms of digit-sized images, whose points near the
// border then take the inside path.
constexpr int kPad = 4;

// Where the padded copy's outer columns read: the column of the image each
// takes (-1: the fill value), left and right, the same for every row.
struct PadColumns {
  int64_t left[kPad], right[kPad];
  PadColumns(const ResampleGeometry& g) {
    for (int j = 0; j < kPad; ++j) {
      left[j] = fill_index(j - kPad, g.W, g.fill);
      right[j] = fill_index(g.W + j, g.W, g.fill);
    }
  }
};

// An image with kPad pixels on every side, those filled as the fill rule
// reads them (the fill value where it reads none): (H + 2 kPad) x (W + 2
// kPad). Grey images at least 8 pixels wide.
void pad_image(const ResampleGeometry& g, const PadColumns& cols, const float* image,
               float* padded) {
  const int64_t H = g.H, W = g.W, PW = W + 2 * kPad;
  const float value = g.fill_value;
  for (int64_t row = 0; row < H + 2 * kPad; ++row) {
    const int64_t source = row >= kPad && row < H + kPad ? row - kPad
                                                          : fill_index(row - kPad, H, g.fill);
    float* to = padded + row * PW;
    if (source < 0) {
      for (int64_t j = 0; j < PW; ++j) to[j] = value;
      continue;
    }
    const float* from = image + source * W;
    // Eight at a time, the last eight ending at the row's end (W >= 8): a
    // digit's row is too short for memcpy's call to pay.
    for (int64_t j = 0;; j += 8) {
      const int64_t at = std::min(j, W - 8);
      _mm256_storeu_ps(to + kPad + at, _mm256_loadu_ps(from + at));
      if (at == W - 8) break;
    }
    for (int j = 0; j < kPad; ++j) {
      to[j] = cols.left[j] < 0 ? value : from[cols.left[j]];
      to[kPad + W + j] = cols.right[j] < 0 ? value : from[cols.right[j]];
    }
  }
}

// The bilinear sum of four pixels with the lower row's and right column's weights.
__m256 bilinear(__m256 p00, __m256 p01, __m256 p10, __m256 p11, __m256 wy, __m256 wx) {
  const __m256 ones = _mm256_set1_ps(1.f), ux = _mm256_sub_ps(ones, wx);
  const __m256 top = _mm256_fmadd_ps(wx, p01, _mm256_mul_ps(ux, p00));
  const __m256 bottom = _mm256_fmadd_ps(wx, p11, _mm256_mul_ps(ux, p10));
  return _mm256_fmadd_ps(wy, bottom, _mm256_mul_ps(_mm256_sub_ps(ones, wy), top));
}

// The points output pixels c .. c + 7 of a row read (row_y, row_x: the
// row's own terms, m.yr * r and m.xr * r), clamped to the window of a
// resize of one: y = yr r + yc c + y0 as the scalar code computes it.
struct Points {
  __m256 y, x;
};
[[gnu::always_inline]] inline Points points(const Sampler& s, const AffineMap& m, __m256 row_y,
                                            __m256 row_x, int64_t c) {
  const __m256 cols = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(c)),
                                    _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 y = _mm256_add_ps(_mm256_add_ps(row_y, _mm256_mul_ps(_mm256_set1_ps(m.yc), cols)),
                           _mm256_set1_ps(m.y0));
  __m256 x = _mm256_add_ps(_mm256_add_ps(row_x, _mm256_mul_ps(_mm256_set1_ps(m.xc), cols)),
                           _mm256_set1_ps(m.x0));
  if (s.g.clamp) {  // a resize of a window: its points stay in the window
    y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(s.y_lo)), _mm256_set1_ps(s.y_hi));
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(s.x_lo)), _mm256_set1_ps(s.x_hi));
  }
  return {y, x};
}

// The first pixel each point reads (its top-left one for bilinear).
[[gnu::always_inline]] inline __m256 first_pixel(const Sampler& s, __m256 v) {
  return _mm256_floor_ps(_mm256_add_ps(v, _mm256_set1_ps(s.bilinear ? 0.f : 0.5f)));
}

// Whether every lane's pixels lie within the padded copy (the image and kPad
// pixels of its fill around it). A NaN coordinate fails every comparison.
[[gnu::always_inline]] inline bool in_pad(const Sampler& s, __m256 fy, __m256 fx) {
  const __m256 low = _mm256_set1_ps(static_cast<float>(-kPad));
  const float reach = s.bilinear ? 2.f : 1.f;  // the last row and column read
  const __m256 inside = _mm256_and_ps(
      _mm256_and_ps(_mm256_cmp_ps(fy, low, _CMP_GE_OQ),
                    _mm256_cmp_ps(fy, _mm256_set1_ps(static_cast<float>(s.g.H) - reach + kPad),
                                  _CMP_LE_OQ)),
      _mm256_and_ps(_mm256_cmp_ps(fx, low, _CMP_GE_OQ),
                    _mm256_cmp_ps(fx, _mm256_set1_ps(static_cast<float>(s.g.W) - reach + kPad),
                                  _CMP_LE_OQ)));
  return _mm256_movemask_ps(inside) == 0xFF;
}

// Eight outputs from the padded copy, every lane's pixels in it (in_pad).
[[gnu::always_inline]] inline void eight_in_pad(const Sampler& s, const float* padded, Points p,
                                                __m256 fy, __m256 fx, float* dst) {
  const int PW = static_cast<int>(s.g.W) + 2 * kPad;
  const __m256 low = _mm256_set1_ps(static_cast<float>(-kPad));
  const __m256i py = _mm256_cvttps_epi32(_mm256_sub_ps(fy, low));
  const __m256i px = _mm256_cvttps_epi32(_mm256_sub_ps(fx, low));
  if (!s.bilinear) {
    _mm256_storeu_ps(dst, _mm256_i32gather_ps(
        padded, _mm256_add_epi32(_mm256_mullo_epi32(py, _mm256_set1_epi32(PW)), px), 4));
    return;
  }
  const __m256 wy = _mm256_sub_ps(p.y, fy), wx = _mm256_sub_ps(p.x, fx);
  // Eight neighbouring pixels of one row (a translation, a crop): loads.
  const int py0 = _mm256_cvtsi256_si32(py), px0 = _mm256_cvtsi256_si32(px);
  const __m256i run = _mm256_and_si256(
      _mm256_cmpeq_epi32(py, _mm256_set1_epi32(py0)),
      _mm256_cmpeq_epi32(px, _mm256_add_epi32(_mm256_set1_epi32(px0),
                                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7))));
  if (_mm256_movemask_epi8(run) == -1) {
    const float* q = padded + static_cast<int64_t>(py0) * PW + px0;
    _mm256_storeu_ps(dst, bilinear(_mm256_loadu_ps(q), _mm256_loadu_ps(q + 1),
                                   _mm256_loadu_ps(q + PW), _mm256_loadu_ps(q + PW + 1), wy, wx));
    return;
  }
  const __m256i at = _mm256_add_epi32(_mm256_mullo_epi32(py, _mm256_set1_epi32(PW)), px);
  __m256 p00, p01, p10, p11;
  gather_pairs(padded, at, p00, p01);
  gather_pairs(padded + PW, at, p10, p11);
  _mm256_storeu_ps(dst, bilinear(p00, p01, p10, p11, wy, wx));
}

// Output pixels c .. c + 7 of row r, all eight as vectors, read from the
// image's padded copy where every lane's pixels lie in it, else with the fill
// rule applied lane by lane. False (nothing written) where a point lies more
// than one image away, which the scalar code's division then handles.
[[gnu::always_inline]] inline bool eight_pixels(const Sampler& s, const AffineMap& m,
                                                const float* image, const float* padded,
                                                float* dst, int64_t r, int64_t c) {
  const float fr = static_cast<float>(r);
  const Points p = points(s, m, _mm256_set1_ps(m.yr * fr), _mm256_set1_ps(m.xr * fr), c);
  const __m256 fy = first_pixel(s, p.y), fx = first_pixel(s, p.x);
  if (in_pad(s, fy, fx)) {
    eight_in_pad(s, padded, p, fy, fx, dst + c);
    return true;
  }
  const int H = static_cast<int>(s.g.H), W = static_cast<int>(s.g.W);
  // Within one period on each side (with the bilinear neighbour): no division.
  const __m256 near = _mm256_and_ps(
      _mm256_and_ps(_mm256_cmp_ps(fy, _mm256_set1_ps(static_cast<float>(-H)), _CMP_GE_OQ),
                    _mm256_cmp_ps(fy, _mm256_set1_ps(static_cast<float>(2 * H - 2)), _CMP_LE_OQ)),
      _mm256_and_ps(_mm256_cmp_ps(fx, _mm256_set1_ps(static_cast<float>(-W)), _CMP_GE_OQ),
                    _mm256_cmp_ps(fx, _mm256_set1_ps(static_cast<float>(2 * W - 2)), _CMP_LE_OQ)));
  if (_mm256_movemask_ps(near) != 0xFF) return false;
  const __m256i iy = _mm256_cvttps_epi32(fy), ix = _mm256_cvttps_epi32(fx);
  const Mapped r0 = fill_rule(iy, H, s.g.fill), c0 = fill_rule(ix, W, s.g.fill);
  const float fill = s.g.fill_value;
  const __m256 p00 = read(image, r0, c0, W, fill);
  if (!s.bilinear) {
    _mm256_storeu_ps(dst + c, p00);
    return true;
  }
  const __m256i one = _mm256_set1_epi32(1);
  const Mapped r1 = fill_rule(_mm256_add_epi32(iy, one), H, s.g.fill);
  const Mapped c1 = fill_rule(_mm256_add_epi32(ix, one), W, s.g.fill);
  const __m256 p01 = read(image, r0, c1, W, fill), p10 = read(image, r1, c0, W, fill),
               p11 = read(image, r1, c1, W, fill);
  _mm256_storeu_ps(dst + c, bilinear(p00, p01, p10, p11, _mm256_sub_ps(p.y, fy),
                                     _mm256_sub_ps(p.x, fx)));
  return true;
}

// forward_row's fast step: pixels c, c + 1, ... of output row r, eight at a
// time, and how many (0: none). A row's last, partial eight ends at the
// row's end, redoing pixels already written (with the same values).
[[gnu::always_inline]] inline int64_t eight_from(const Sampler& s, const AffineMap& m,
                                                 const float* image, const float* padded,
                                                 float* row, int64_t r, int64_t c) {
  if (!eight_pixels(s, m, image, padded, row, r, std::min(c, s.g.OW - 8))) return 0;
  return std::min<int64_t>(8, s.g.OW - c);
}

// Whether output row r's first and last eight points read inside the padded
// copy (OW >= 8).
[[gnu::always_inline]] inline bool row_in_pad(const Sampler& s, const AffineMap& m, int64_t r) {
  const float fr = static_cast<float>(r);
  const __m256 row_y = _mm256_set1_ps(m.yr * fr), row_x = _mm256_set1_ps(m.xr * fr);
  const Points first = points(s, m, row_y, row_x, 0);
  const Points end = points(s, m, row_y, row_x, s.g.OW - 8);
  return in_pad(s, first_pixel(s, first.y), first_pixel(s, first.x)) &&
         in_pad(s, first_pixel(s, end.y), first_pixel(s, end.x));
}

// Output row r of an image (OW >= 8). Each lane's coordinate is monotonic
// along a row and down a column (a product, sums and the clamp all are), so
// where a row's first and last eight read inside the padded copy, every
// eight between does too, and where the first and last rows do, every row
// does: `inside` says so for this row (row_in_pad), and the row then runs
// without the per-eight checks. Other rows go eight by eight (eight_from).
[[gnu::always_inline]] inline void row_forward(const Sampler& s, const AffineMap& m,
                                               const float* image, const float* padded,
                                               float* dst, int64_t r, bool inside) {
  if (!inside) {
    auto fast = [padded](const Sampler& s2, const AffineMap& m2, const float* pixels,
                         float* row, int64_t r2, int64_t c) {
      return eight_from(s2, m2, pixels, padded, row, r2, c);
    };
    forward_row(s, m, image, dst, r, fast);
    return;
  }
  const float fr = static_cast<float>(r);
  const __m256 row_y = _mm256_set1_ps(m.yr * fr), row_x = _mm256_set1_ps(m.xr * fr);
  const int64_t last = s.g.OW - 8;
  for (int64_t c = 0;; c += 8) {  // the last eight ends at the row's end
    const int64_t at = std::min(c, last);
    const Points p = points(s, m, row_y, row_x, at);
    eight_in_pad(s, padded, p, first_pixel(s, p.y), first_pixel(s, p.x), dst + at);
    if (at == last) return;
  }
}

}  // namespace

void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                      const AffineMap* maps, int threads) {
  // Grey images at least 8 pixels wide whose (padded) pixel offsets fit the
  // gathers' 32-bit indices, at least two per thread: each thread pads the
  // images it takes, whole.
  const int64_t padded_size = (g.H + 2 * kPad) * (g.W + 2 * kPad);
  const bool vector = g.C == 1 && padded_size < (int64_t{1} << 30) && g.OW >= 8 && g.W >= 8;
  const int64_t image_size = g.H * g.W, out_size = g.OH * g.OW;
  if (!vector) {
    forward_impl(g, in, out, N, maps, threads,
                 [](const Sampler&, const AffineMap&, const float*, float*, int64_t,
                    int64_t) -> int64_t { return 0; });
    return;
  }
  const PadColumns cols(g);
  if (N < 2 * threads) {  // few images: padded here, their rows shared among threads
    thread_local Scratch<float> copies;  // the caller's: its workers read it
    float* padded = copies.get(static_cast<size_t>(N * padded_size));
    for (int64_t n = 0; n < N; ++n)
      pad_image(g, cols, in + n * image_size, padded + n * padded_size);
    forward_impl(g, in, out, N, maps, threads,
                 [=](const Sampler& s, const AffineMap& m, const float* image, float* row,
                     int64_t r, int64_t c) {
                   const float* own = padded + (image - in) / image_size * padded_size;
                   return eight_from(s, m, image, own, row, r, c);
                 });
    return;
  }
  parallel_for(N * out_size > 32768 ? threads : 1, N, [&](int64_t n) {
    thread_local Scratch<float> copy;
    float* padded = copy.get(static_cast<size_t>(padded_size));
    const float* image = in + n * image_size;
    pad_image(g, cols, image, padded);
    const Sampler sampler(g);
    const AffineMap m = maps[n];
    const bool all_inside = row_in_pad(sampler, m, 0) && row_in_pad(sampler, m, g.OH - 1);
    for (int64_t r = 0; r < g.OH; ++r)
      row_forward(sampler, m, image, padded, out + (n * g.OH + r) * g.OW, r,
                  all_inside || row_in_pad(sampler, m, r));
  }, /*dynamic=*/true);
}

void resample_backward(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                       const AffineMap* maps, int threads) {
  backward_impl(g, dout, din, N, maps, threads);
}

}  // namespace pyconv::kernels::avx2

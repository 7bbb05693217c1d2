// The resampling kernels built for the "avx2" ISA (flags: see
// src/cpp/CMakeLists.txt): eight output pixels of a grey (one-channel) image
// at once where all eight read inside the image, their pixels gathered;
// everything else is the scalar code of resample_impl.h.
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "kernels/resample.h"

namespace pyconv::kernels::avx2 {

#include "kernels/resample_impl.h"

namespace {

// Output pixels c .. c + 7 of row r: true when all eight read inside the
// image and were written; false to leave them to the scalar code.
bool eight_inside(const Sampler& s, const AffineMap& m, const float* image, float* dst,
                  int64_t r, int64_t c) {
  const float fr = static_cast<float>(r);
  const __m256 cols = _mm256_add_ps(_mm256_set1_ps(static_cast<float>(c)),
                                    _mm256_setr_ps(0, 1, 2, 3, 4, 5, 6, 7));
  __m256 y = _mm256_add_ps(_mm256_add_ps(_mm256_set1_ps(m.yr * fr),
                                         _mm256_mul_ps(_mm256_set1_ps(m.yc), cols)),
                           _mm256_set1_ps(m.y0));
  __m256 x = _mm256_add_ps(_mm256_add_ps(_mm256_set1_ps(m.xr * fr),
                                         _mm256_mul_ps(_mm256_set1_ps(m.xc), cols)),
                           _mm256_set1_ps(m.x0));
  y = _mm256_min_ps(_mm256_max_ps(y, _mm256_set1_ps(s.y_lo)), _mm256_set1_ps(s.y_hi));
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(s.x_lo)), _mm256_set1_ps(s.x_hi));
  const float last_row = static_cast<float>(s.g.H - (s.bilinear ? 2 : 1));
  const float last_col = static_cast<float>(s.g.W - (s.bilinear ? 2 : 1));
  const __m256 half = _mm256_set1_ps(s.bilinear ? 0.f : 0.5f);
  const __m256 fy = _mm256_floor_ps(_mm256_add_ps(y, half));
  const __m256 fx = _mm256_floor_ps(_mm256_add_ps(x, half));
  const __m256 zero = _mm256_setzero_ps();
  const __m256 inside = _mm256_and_ps(
      _mm256_and_ps(_mm256_cmp_ps(fy, zero, _CMP_GE_OQ),
                    _mm256_cmp_ps(fy, _mm256_set1_ps(last_row), _CMP_LE_OQ)),
      _mm256_and_ps(_mm256_cmp_ps(fx, zero, _CMP_GE_OQ),
                    _mm256_cmp_ps(fx, _mm256_set1_ps(last_col), _CMP_LE_OQ)));
  if (_mm256_movemask_ps(inside) != 0xFF) return false;
  const int W = static_cast<int>(s.g.W);
  const __m256i at = _mm256_add_epi32(_mm256_mullo_epi32(_mm256_cvttps_epi32(fy),
                                                         _mm256_set1_epi32(W)),
                                      _mm256_cvttps_epi32(fx));
  const __m256 p00 = _mm256_i32gather_ps(image, at, 4);
  if (!s.bilinear) {
    _mm256_storeu_ps(dst + c, p00);
    return true;
  }
  const __m256 p01 = _mm256_i32gather_ps(image + 1, at, 4);
  const __m256 p10 = _mm256_i32gather_ps(image + W, at, 4);
  const __m256 p11 = _mm256_i32gather_ps(image + W + 1, at, 4);
  const __m256 wy = _mm256_sub_ps(y, fy), wx = _mm256_sub_ps(x, fx);
  const __m256 one = _mm256_set1_ps(1.f);
  const __m256 ux = _mm256_sub_ps(one, wx);
  const __m256 top = _mm256_fmadd_ps(wx, p01, _mm256_mul_ps(ux, p00));
  const __m256 bottom = _mm256_fmadd_ps(wx, p11, _mm256_mul_ps(ux, p10));
  _mm256_storeu_ps(dst + c, _mm256_fmadd_ps(wy, bottom, _mm256_mul_ps(_mm256_sub_ps(one, wy), top)));
  return true;
}

}  // namespace

void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                      const AffineMap* maps, int threads) {
  // Grey images whose pixel offsets fit the gathers' 32-bit indices.
  const bool vector = g.C == 1 && g.H * g.W < (int64_t{1} << 30) && g.OW >= 8;
  forward_impl(g, in, out, N, maps, threads,
               [vector](const Sampler& s, const AffineMap& m, const float* image, float* row,
                        int64_t r, int64_t c) -> int64_t {
                 if (!vector || c + 8 > s.g.OW) return 0;
                 if (eight_inside(s, m, image, row, r, c)) return 8;
                 // Near the border: these eight one by one, then try again.
                 const float fr = static_cast<float>(r);
                 for (int64_t k = c; k < c + 8; ++k) {
                   const float fc = static_cast<float>(k);
                   pixel_forward(s, image, row + k, map_y(m, fr, fc), map_x(m, fr, fc));
                 }
                 return 8;
               });
}

void resample_backward(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                       const AffineMap* maps, int threads) {
  backward_impl(g, dout, din, N, maps, threads);
}

}  // namespace pyconv::kernels::avx2

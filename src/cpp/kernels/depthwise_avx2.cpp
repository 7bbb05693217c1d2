// The depthwise kernels built for the "avx2" ISA (flags: see src/cpp/CMakeLists.txt).
//
// One output channel per input channel (the usual depthwise layer) has its
// own kernels here: every output vector is summed in registers over all of
// its taps and stored once, where the generic kernels (depthwise_impl.h) add
// each tap into memory. The input gradient is gathered the same way, per
// input pixel. Channel multipliers above 1 use the generic kernels.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include "kernels/depthwise.h"

namespace pyconv::kernels::avx2 {

namespace generic {
#include "kernels/depthwise_impl.h"
}  // namespace generic

#include "kernels/avx2_tile.h"

namespace {

constexpr int64_t kBlock = 32;  // channels held in registers at a time (four vectors)

// out[c] = init[c] (0 when init is null) + sum over j < n of a[j][c] * b[j][c].
void sum_of_products(int64_t C, int64_t n, const float* const* a, const float* const* b,
                     const float* init, float* out) {
  int64_t c = 0;
  for (; c + kBlock <= C; c += kBlock) {
    __m256 s0 = init ? _mm256_loadu_ps(init + c) : _mm256_setzero_ps();
    __m256 s1 = init ? _mm256_loadu_ps(init + c + 8) : _mm256_setzero_ps();
    __m256 s2 = init ? _mm256_loadu_ps(init + c + 16) : _mm256_setzero_ps();
    __m256 s3 = init ? _mm256_loadu_ps(init + c + 24) : _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j) {
      const float* p = a[j] + c;
      const float* q = b[j] + c;
      s0 = _mm256_fmadd_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(q), s0);
      s1 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 8), _mm256_loadu_ps(q + 8), s1);
      s2 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 16), _mm256_loadu_ps(q + 16), s2);
      s3 = _mm256_fmadd_ps(_mm256_loadu_ps(p + 24), _mm256_loadu_ps(q + 24), s3);
    }
    _mm256_storeu_ps(out + c, s0);
    _mm256_storeu_ps(out + c + 8, s1);
    _mm256_storeu_ps(out + c + 16, s2);
    _mm256_storeu_ps(out + c + 24, s3);
  }
  for (; c < C; c += 8) {  // the rest, a vector (or part of one) at a time
    const __m256i mask = first_lanes(C - c);
    __m256 s = init ? _mm256_maskload_ps(init + c, mask) : _mm256_setzero_ps();
    for (int64_t j = 0; j < n; ++j)
      s = _mm256_fmadd_ps(_mm256_maskload_ps(a[j] + c, mask), _mm256_maskload_ps(b[j] + c, mask),
                          s);
    _mm256_maskstore_ps(out + c, mask, s);
  }
}

// The outputs o in [0, count) with 0 <= o * stride + offset < limit, as [first, last).
struct Range {
  int64_t first, last;
};
Range valid_outputs(int64_t offset, int64_t stride, int64_t limit, int64_t count) {
  const int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = limit - 1 - offset < 0 ? 0 : (limit - 1 - offset) / stride + 1;
  return {first, std::max(first, std::min(count, last))};
}

}  // namespace

void depthwise_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       float* y) {
  if (g.F != g.C) return generic::depthwise_forward(g, x, w, bias, y);
  const int64_t C = g.C, count = g.KH * g.KW;
  std::vector<int64_t> pixels(count), taps(count);
  std::vector<const float*> inputs(count), weights(count);
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t n = generic::taps_in_image(g, oh, ow, pixels.data(), taps.data());
      for (int64_t j = 0; j < n; ++j) {
        inputs[j] = x + pixels[j] * C;
        weights[j] = w + taps[j] * C;
      }
      sum_of_products(C, n, inputs.data(), weights.data(), bias, y + (oh * g.OW + ow) * C);
    }
}

void depthwise_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  if (g.F != g.C) return generic::depthwise_backward_data(g, dy, w, dx);
  const int64_t C = g.C;
  std::vector<const float*> grads(g.KH * g.KW), weights(g.KH * g.KW);
  // dx at (ih, iw) gathers dy at every (oh, ow) whose tap (kh, kw) reads it.
  for (int64_t ih = 0; ih < g.H; ++ih)
    for (int64_t iw = 0; iw < g.W; ++iw) {
      int64_t n = 0;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t sh = ih + g.PT - kh * g.DH;  // oh * SH
        if (sh < 0 || sh % g.SH != 0 || sh / g.SH >= g.OH) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t sw = iw + g.PL - kw * g.DW;  // ow * SW
          if (sw < 0 || sw % g.SW != 0 || sw / g.SW >= g.OW) continue;
          grads[n] = dy + ((sh / g.SH) * g.OW + sw / g.SW) * C;
          weights[n++] = w + (kh * g.KW + kw) * C;
        }
      }
      sum_of_products(C, n, grads.data(), weights.data(), nullptr, dx + (ih * g.W + iw) * C);
    }
}

void depthwise_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  if (g.F != g.C) return generic::depthwise_backward_filter(g, x, dy, dw);
  const int64_t C = g.C;
  // Bands of output rows, so a band's dy and input rows stay in cache across
  // the taps; each tap's sums over the band are kept in registers.
  const int64_t band = std::max<int64_t>(1, (int64_t{1} << 14) / (g.OW * C));
  for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band) {
    const int64_t oh1 = std::min(g.OH, oh0 + band);
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const Range rows = valid_outputs(kh * g.DH - g.PT, g.SH, g.H, oh1);
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const Range cols = valid_outputs(kw * g.DW - g.PL, g.SW, g.W, g.OW);
        float* dwk = dw + (kh * g.KW + kw) * C;
        const int64_t x_step = g.SW * C;
        for (int64_t c = 0; c < C; c += kBlock) {  // four vectors, masked past C
          __m256i mask[4];
          __m256 s[4];
          for (int v = 0; v < 4; ++v) {
            mask[v] = first_lanes(C - c - 8 * v);
            s[v] = _mm256_setzero_ps();
          }
          for (int64_t oh = std::max(oh0, rows.first); oh < rows.last; ++oh) {
            const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
            const float* xp = x + (ih * g.W + cols.first * g.SW - g.PL + kw * g.DW) * C + c;
            const float* dyp = dy + (oh * g.OW + cols.first) * C + c;
            for (int64_t ow = cols.first; ow < cols.last; ++ow, xp += x_step, dyp += C)
              for (int v = 0; v < 4; ++v)
                s[v] = _mm256_fmadd_ps(_mm256_maskload_ps(xp + 8 * v, mask[v]),
                                       _mm256_maskload_ps(dyp + 8 * v, mask[v]), s[v]);
          }
          for (int v = 0; v < 4; ++v)
            _mm256_maskstore_ps(dwk + c + 8 * v, mask[v],
                                _mm256_add_ps(_mm256_maskload_ps(dwk + c + 8 * v, mask[v]), s[v]));
        }
      }
    }
  }
}

}  // namespace pyconv::kernels::avx2

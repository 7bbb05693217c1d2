#include <algorithm>

#include "kernels/conv.h"

namespace pyconv::kernels {

void im2col_nhwc(const ConvGeometry& g, int64_t group, const float* x, int64_t p0, int64_t p1,
                 float* col) {
  const int64_t cg = g.cin_group(), width = g.col_width();
  const float* xg = x + group * cg;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oh = p / g.OW, ow = p % g.OW;
    float* row = col + (p - p0) * width;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
      for (int64_t kw = 0; kw < g.KW; ++kw, row += cg) {
        const int64_t iw = ow * g.SW - g.PL + kw * g.DW;
        // Inline loops, not memcpy/fill: runs are short (one group's channels)
        // and a library call per tap costs more than the copy.
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) {
#pragma omp simd
          for (int64_t c = 0; c < cg; ++c) row[c] = 0.f;
        } else {
          const float* src = xg + (ih * g.W + iw) * g.C;
#pragma omp simd
          for (int64_t c = 0; c < cg; ++c) row[c] = src[c];
        }
      }
    }
  }
}

void col2im_nhwc(const ConvGeometry& g, int64_t group, const float* dcol, int64_t p0,
                 int64_t p1, float* dx) {
  const int64_t cg = g.cin_group(), width = g.col_width();
  float* dxg = dx + group * cg;
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t oh = p / g.OW, ow = p % g.OW;
    const float* row = dcol + (p - p0) * width;
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
      for (int64_t kw = 0; kw < g.KW; ++kw, row += cg) {
        const int64_t iw = ow * g.SW - g.PL + kw * g.DW;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
        float* dst = dxg + (ih * g.W + iw) * g.C;
#pragma omp simd
        for (int64_t c = 0; c < cg; ++c) dst[c] += row[c];
      }
    }
  }
}

// Both packers walk their indices with counters (no division per element):
// with one input channel, every tap is a single element.

void pack_im2col(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                 float* dst) {
  const Im2colSource& s = *static_cast<const Im2colSource*>(source);
  const ConvGeometry& g = *s.g;
  const int64_t cg = g.cin_group();
  const float* xg = s.x + s.group * cg;
  const int64_t tap0 = p0 / cg, c0 = p0 % cg;
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr) {
    for (int r = 0; r < mr; ++r) {
      float* d = dst + r;  // this row's values sit mr apart
      if (ir + r >= mc) {
        for (int64_t k = 0; k < kc; ++k) d[k * mr] = 0.f;
        continue;
      }
      const int64_t pixel = i0 + ir + r;
      const int64_t h0 = (pixel / g.OW) * g.SH - g.PT, w0 = (pixel % g.OW) * g.SW - g.PL;
      int64_t kh = tap0 / g.KW, kw = tap0 % g.KW, c = c0;
      for (int64_t k = 0; k < kc;) {  // tap by tap: each is a run of channels
        const int64_t run = std::min(cg - c, kc - k);
        const int64_t ih = h0 + kh * g.DH, iw = w0 + kw * g.DW;
        float* out = d + k * mr;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) {
          for (int64_t j = 0; j < run; ++j) out[j * mr] = 0.f;
        } else {
          const float* src = xg + (ih * g.W + iw) * g.C + c;
          for (int64_t j = 0; j < run; ++j) out[j * mr] = src[j];
        }
        k += run;
        c = 0;
        if (++kw == g.KW) kw = 0, ++kh;
      }
    }
  }
}

void pack_im2col_transposed(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                            int mr, float* dst) {
  const Im2colSource& s = *static_cast<const Im2colSource*>(source);
  const ConvGeometry& g = *s.g;
  const int64_t cg = g.cin_group();
  const float* xg = s.x + s.group * cg;
  constexpr int kMaxRows = 16;  // mr is at most this for every ISA
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr) {
    // The panel's rows are taps k = i0 + ir + r: their offsets within a window.
    int64_t dh[kMaxRows], dw[kMaxRows], ch[kMaxRows];
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
    for (int r = 0; r < rows; ++r) {
      const int64_t k = i0 + ir + r, tap = k / cg;
      dh[r] = (tap / g.KW) * g.DH;
      dw[r] = (tap % g.KW) * g.DW;
      ch[r] = k % cg;
    }
    int64_t oh = p0 / g.OW, ow = p0 % g.OW;
    for (int64_t p = 0; p < kc; ++p) {
      const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
      float* d = dst + p * mr;
      for (int r = 0; r < rows; ++r) {
        const int64_t ih = h0 + dh[r], iw = w0 + dw[r];
        d[r] = (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) ? 0.f
                                                            : xg[(ih * g.W + iw) * g.C + ch[r]];
      }
      for (int r = rows; r < mr; ++r) d[r] = 0.f;
      if (++ow == g.OW) ow = 0, ++oh;
    }
  }
}

}  // namespace pyconv::kernels

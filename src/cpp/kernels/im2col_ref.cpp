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

// The packers walk their indices with counters (no division per element):
// with one input channel, every tap is a single element.

namespace {

// One panel whose rows are pixels that need not share an output row: each
// row walks its taps on its own.
void pack_rows_one_by_one(const ConvGeometry& g, const float* xg, int64_t first, int rows,
                          int64_t p0, int64_t kc, int mr, float* dst) {
  const int64_t cg = g.cin_group();
  for (int r = 0; r < mr; ++r) {
    float* d = dst + r;  // this row's values sit mr apart
    if (r >= rows) {
      for (int64_t k = 0; k < kc; ++k) d[k * mr] = 0.f;
      continue;
    }
    const int64_t pixel = first + r;
    const int64_t h0 = (pixel / g.OW) * g.SH - g.PT, w0 = (pixel % g.OW) * g.SW - g.PL;
    int64_t kh = (p0 / cg) / g.KW, kw = (p0 / cg) % g.KW, c = p0 % cg;
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

// One full panel of mr pixels in the same output row: each tap is handled
// once for all of them, and interior taps are plain strided copies.
void pack_row_segment(const ConvGeometry& g, const float* xg, int64_t first, int64_t p0,
                      int64_t kc, int mr, float* dst) {
  const int64_t cg = g.cin_group(), step = g.SW * g.C;
  const int64_t h0 = (first / g.OW) * g.SH - g.PT, w0 = (first % g.OW) * g.SW - g.PL;
  int64_t kh = (p0 / cg) / g.KW, kw = (p0 / cg) % g.KW, c = p0 % cg;
  for (int64_t k = 0; k < kc;) {
    const int64_t run = std::min(cg - c, kc - k);
    const int64_t ih = h0 + kh * g.DH, iw = w0 + kw * g.DW;  // the first pixel's tap
    float* out = dst + k * mr;
    const float* src = xg + (ih * g.W + iw) * g.C + c;
    if (ih < 0 || ih >= g.H) {
      for (int64_t j = 0; j < run * mr; ++j) out[j] = 0.f;
    } else if (iw >= 0 && iw + (mr - 1) * g.SW < g.W) {
      for (int64_t j = 0; j < run; ++j)
        for (int r = 0; r < mr; ++r) out[j * mr + r] = src[r * step + j];
    } else {
      for (int64_t j = 0; j < run; ++j)
        for (int r = 0; r < mr; ++r) {
          const int64_t w = iw + r * g.SW;
          out[j * mr + r] = (w < 0 || w >= g.W) ? 0.f : src[r * step + j];
        }
    }
    k += run;
    c = 0;
    if (++kw == g.KW) kw = 0, ++kh;
  }
}

}  // namespace

void pack_im2col(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                 float* dst) {
  const Im2colSource& s = *static_cast<const Im2colSource*>(source);
  const ConvGeometry& g = *s.g;
  const float* xg = s.x + s.group * g.cin_group();
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
    const int64_t first = s.first_pixel + i0 + ir;
    if (rows == mr && first % g.OW + mr <= g.OW)
      pack_row_segment(g, xg, first, p0, kc, mr, dst);
    else
      pack_rows_one_by_one(g, xg, first, rows, p0, kc, mr, dst);
  }
}

void pack_im2col_b(const void* source, int64_t p0, int64_t kc, int64_t j, int64_t nr, int width,
                   float* dst) {
  const Im2colSource& s = *static_cast<const Im2colSource*>(source);
  const ConvGeometry& g = *s.g;
  const int64_t cg = g.cin_group();
  const float* xg = s.x + s.group * cg;
  // Columns are taps k = j + c, taken 16 at a time and split into runs of
  // adjacent channels of one tap: each run is one contiguous copy per pixel.
  struct Run {
    int64_t dh, dw, ch, col, len;
  };
  constexpr int64_t kGroup = 16;
  for (int64_t c0 = 0; c0 < width; c0 += kGroup) {
    Run runs[kGroup];
    int n_runs = 0;
    for (int64_t c = c0; c < std::min<int64_t>(nr, c0 + kGroup);) {
      const int64_t k = j + c, tap = k / cg, ch = k % cg;
      const int64_t len = std::min({cg - ch, nr - c, c0 + kGroup - c});
      runs[n_runs++] = {(tap / g.KW) * g.DH, (tap % g.KW) * g.DW, ch, c, len};
      c += len;
    }
    const int64_t pad_from = std::max(c0, std::min<int64_t>(nr, c0 + kGroup));
    const int64_t pad_to = std::min<int64_t>(width, c0 + kGroup);
    int64_t oh = p0 / g.OW, ow = p0 % g.OW;
    float* d = dst;
    for (int64_t p = 0; p < kc; ++p, d += width) {
      const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
      for (int r = 0; r < n_runs; ++r) {
        const Run& run = runs[r];
        const int64_t ih = h0 + run.dh, iw = w0 + run.dw;
        float* out = d + run.col;
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) {
          for (int64_t c = 0; c < run.len; ++c) out[c] = 0.f;
        } else {
          const float* src = xg + (ih * g.W + iw) * g.C + run.ch;
          for (int64_t c = 0; c < run.len; ++c) out[c] = src[c];
        }
      }
      for (int64_t c = pad_from; c < pad_to; ++c) d[c] = 0.f;
      if (++ow == g.OW) ow = 0, ++oh;
    }
  }
}

}  // namespace pyconv::kernels

#include <algorithm>

#include "kernels/conv.h"

namespace pyconv::kernels {

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

// The group's channels of the sample that holds pixel q; q becomes the
// pixel's index within that sample.
const float* sample_input(const Im2colSource& s, int64_t& q) {
  const int64_t P = s.g->out_pixels(), n = q / P;
  q -= n * P;
  return s.x + n * s.sample_size + s.group * s.g->cin_group();
}

// One panel whose rows are pixels that need not share an output row: each
// row walks its taps on its own.
void pack_rows_one_by_one(const Im2colSource& s, int64_t first, int rows, int64_t p0,
                          int64_t kc, int mr, float* dst) {
  const ConvGeometry& g = *s.g;
  const int64_t cg = g.cin_group();
  for (int r = 0; r < mr; ++r) {
    float* d = dst + r;  // this row's values sit mr apart
    if (r >= rows) {
      for (int64_t k = 0; k < kc; ++k) d[k * mr] = 0.f;
      continue;
    }
    int64_t pixel = first + r;
    const float* xg = sample_input(s, pixel);
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

// Depth [p0, p0 + kc) (pixels) and taps [j, j + nr) of the columns, as one
// panel `width` taps wide: dst[(p - p0) * width + c]; taps past nr are zero.
void pack_taps_panel(const Im2colSource& s, int64_t p0, int64_t kc, int64_t j, int64_t nr,
                     int width, float* dst) {
  const ConvGeometry& g = *s.g;
  const int64_t cg = g.cin_group();
  for (int64_t c = nr; c < width; ++c)  // columns past nr are zero
    for (int64_t p = 0; p < kc; ++p) dst[p * width + c] = 0.f;
  // Columns are taps k = j + c, in runs of adjacent channels of one tap.
  // Depth is pixels, walked in segments of one output row: per (segment,
  // run) the in-bounds pixels are found once, then copied with a fixed
  // stride.
  for (int64_t c = 0; c < nr;) {
    const int64_t k = j + c, tap = k / cg, ch = k % cg, len = std::min(cg - ch, nr - c);
    const int64_t dh = (tap / g.KW) * g.DH, dw = (tap % g.KW) * g.DW;
    for (int64_t p = p0; p < p0 + kc;) {
      int64_t pixel = p;
      const float* xg = sample_input(s, pixel);
      const int64_t oh = pixel / g.OW, ow0 = pixel % g.OW;
      const int64_t count = std::min(g.OW - ow0, p0 + kc - p);  // pixels in this segment
      const int64_t ih = oh * g.SH - g.PT + dh;
      // ow such that 0 <= ow * SW - PL + dw < W, intersected with the segment
      const int64_t off = dw - g.PL;
      int64_t lo = off >= 0 ? 0 : (-off + g.SW - 1) / g.SW;
      int64_t hi = g.W - off <= 0 ? 0 : (g.W - off - 1) / g.SW + 1;
      lo = std::min(std::max(lo, ow0), ow0 + count);
      hi = std::min(std::max(hi, lo), ow0 + count);
      if (ih < 0 || ih >= g.H) lo = hi = ow0;
      float* d = dst + (p - p0) * width + c;
      auto zeros = [&](int64_t n) {
        for (int64_t i = 0; i < n; ++i, d += width)
          for (int64_t e = 0; e < len; ++e) d[e] = 0.f;
      };
      zeros(lo - ow0);
      if (hi > lo) {
        const float* src = xg + (ih * g.W + lo * g.SW + off) * g.C + ch;
        const int64_t step = g.SW * g.C;
        if (len == 1) {  // one channel per tap: a strided gather
          for (int64_t ow = lo; ow < hi; ++ow, d += width, src += step) *d = *src;
        } else {
          for (int64_t ow = lo; ow < hi; ++ow, d += width, src += step)
            for (int64_t e = 0; e < len; ++e) d[e] = src[e];
        }
      }
      zeros(ow0 + count - hi);
      p += count;
    }
    c += len;
  }
}

}  // namespace

void pack_im2col(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                 float* dst) {
  const Im2colSource& s = *static_cast<const Im2colSource*>(source);
  const ConvGeometry& g = *s.g;
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
    const int64_t first = s.first_pixel + i0 + ir;
    if (rows == mr && first % g.OW + mr <= g.OW) {  // one output row of one sample
      int64_t pixel = first;
      const float* xg = sample_input(s, pixel);
      pack_row_segment(g, xg, pixel, p0, kc, mr, dst);
    } else {
      pack_rows_one_by_one(s, first, rows, p0, kc, mr, dst);
    }
  }
}

void pack_im2col_taps(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                      float* dst) {
  // An A panel is laid out as a B panel mr wide: for each depth step, mr taps.
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr)
    pack_taps_panel(*static_cast<const Im2colSource*>(source), p0, kc, i0 + ir,
                    std::min<int64_t>(mr, mc - ir), mr, dst);
}

}  // namespace pyconv::kernels

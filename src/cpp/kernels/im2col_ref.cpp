#include <algorithm>
#include <cstring>

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

// One kernel row's KW taps for `count` pixels (kCount, when not 0) whose
// reads all fall inside the image: src is the first pixel's first tap.
template <int kCount>
void copy_kernel_row(const ConvGeometry& g, const float* src, int mr, int count, float* out) {
  const int64_t cg = g.cin_group(), step = g.SW * g.C, n = kCount ? kCount : count;
  if (step == 1) {  // one channel, stride 1: each tap's pixels are a run of the input row
    for (int64_t t = 0; t < g.KW; ++t, src += g.DW, out += mr)
      std::memcpy(out, src, sizeof(float) * n);
    return;
  }
  for (int64_t t = 0; t < g.KW; ++t, src += g.DW * g.C)
    for (int64_t j = 0; j < cg; ++j, out += mr)
      for (int64_t r = 0; r < n; ++r) out[r] = src[r * step + j];
}

// Where a panel's depth starts: tap (kh, kw), channel c.
struct DepthStart {
  int64_t kh, kw, c;
};

// Rows [r0, r0 + count) of an mr-row panel: `count` pixels of one output row
// of one sample, the first at (oh, ow) (xg: that sample's group channels).
// Each tap is handled once for all of them. Where a whole kernel row falls
// inside the image for every pixel, its KW taps are copied in one loop
// without checks: with few channels a tap is one or three values, and per-
// tap bookkeeping would cost more than the copies.
void pack_segment(const ConvGeometry& g, const float* xg, int64_t oh, int64_t ow,
                  DepthStart start, int64_t kc, int mr, int r0, int count, float* dst) {
  const int64_t cg = g.cin_group(), step = g.SW * g.C, last_dw = (count - 1) * g.SW;
  const int64_t h0 = oh * g.SH - g.PT, w0 = ow * g.SW - g.PL;
  const bool row_inside = w0 >= 0 && w0 + (g.KW - 1) * g.DW + last_dw < g.W;
  int64_t kh = start.kh, kw = start.kw, c = start.c;
  dst += r0;
  for (int64_t k = 0; k < kc;) {
    const int64_t ih = h0 + kh * g.DH;
    float* out = dst + k * mr;
    if (kw == 0 && c == 0 && row_inside && ih >= 0 && ih < g.H && kc - k >= g.KW * cg) {
      const float* src = xg + (ih * g.W + w0) * g.C;
      if (count == 6)  // a whole panel of the x86 tiles: unrolled
        copy_kernel_row<6>(g, src, mr, count, out);
      else
        copy_kernel_row<0>(g, src, mr, count, out);
      k += g.KW * cg;
      ++kh;
      continue;
    }
    const int64_t run = std::min(cg - c, kc - k);
    const int64_t iw = w0 + kw * g.DW;  // the first pixel's tap
    if (ih < 0 || ih >= g.H) {
      for (int64_t j = 0; j < run; ++j)
        for (int r = 0; r < count; ++r) out[j * mr + r] = 0.f;
    } else {
      // Pointers are formed only inside the image: one outside the sample
      // would be undefined behaviour even unread.
      const float* row = xg + ih * g.W * g.C + c;
      if (iw >= 0 && iw + last_dw < g.W) {
        const float* src = row + iw * g.C;
        for (int64_t j = 0; j < run; ++j)
          for (int r = 0; r < count; ++r) out[j * mr + r] = src[r * step + j];
      } else {
        for (int64_t j = 0; j < run; ++j)
          for (int r = 0; r < count; ++r) {
            const int64_t w = iw + r * g.SW;
            out[j * mr + r] = (w < 0 || w >= g.W) ? 0.f : row[w * g.C + j];
          }
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
  const int64_t cg = g.cin_group();
  const DepthStart start{(p0 / cg) / g.KW, (p0 / cg) % g.KW, p0 % cg};
  // The pixel walks sample, output row and column by steps: divisions per
  // segment would cost as much as the copies.
  int64_t pixel = s.first_pixel + i0;
  const float* xg = sample_input(s, pixel);
  int64_t oh = pixel / g.OW, ow = pixel % g.OW;
  for (int64_t ir = 0; ir < mc; ir += mr, dst += kc * mr) {
    const int rows = static_cast<int>(std::min<int64_t>(mr, mc - ir));
    // The panel's pixels, one output row's segment at a time.
    for (int r = 0; r < rows;) {
      const int count = static_cast<int>(std::min<int64_t>(rows - r, g.OW - ow));
      pack_segment(g, xg, oh, ow, start, kc, mr, r, count, dst);
      r += count;
      if ((ow += count) == g.OW) {
        ow = 0;
        if (++oh == g.OH) oh = 0, xg += s.sample_size;
      }
    }
    for (int64_t k = 0; k < kc; ++k)  // rows past the range are zero
      for (int r = rows; r < mr; ++r) dst[k * mr + r] = 0.f;
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

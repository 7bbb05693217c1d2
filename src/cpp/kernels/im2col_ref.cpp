#include <algorithm>
#include <cstring>

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
        if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W)
          std::fill(row, row + cg, 0.f);
        else
          std::memcpy(row, xg + (ih * g.W + iw) * g.C, sizeof(float) * cg);
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

}  // namespace pyconv::kernels

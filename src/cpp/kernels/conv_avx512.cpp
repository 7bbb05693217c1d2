// Convolution forward for the "avx512" table (flags: see src/cpp/CMakeLists.txt).
// Unless they have few filters (the AVX2 planar kernel), layers run the
// direct convolution on a register tile of 8 output pixels by one or two
// 16-filter panels, one zmm each: the AVX2 kernel's scheme
// (kernels/conv_direct_impl.h, the same panels) at twice the width. Layers
// with few input channels and more than 32 filters go through the AVX-512
// GEMM instead, columns packed from x and the kernel's columns packed into
// that GEMM's panels once per model (conv_pack): the direct tile takes them
// a panel pair at a time, reading the input again for each pair, where with
// so few channels the reads cost more than the arithmetic they feed.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::avx512 {

#include "kernels/avx2_lanes.h"
#include "kernels/scratch.h"
#include "kernels/conv_direct_impl.h"

namespace {

constexpr int kTileRows = 8;  // output pixels per register tile

// Measured on this table's machine (Intel, two 512-bit FMA units), batch 1
// and 64, "same" 3x3: 1 channel to 16 or 32 filters and 3 channels to 32
// run 1.2-1.5x faster direct; 3 channels to 64 filters 1.03-1.13x slower.
bool through_gemm(const ConvGeometry& g) {
  return !planar_forward_applies(g) && packed_columns_applies(g) &&
         g.cout_group() > 2 * kPanelWidth;
}

// One group's packed kernel: the GEMM's panels, or the direct kernel's
// 16-filter panels (the planar kernel reads the kernel as it lies).
int64_t group_packed_size(const ConvGeometry& g) {
  return through_gemm(g) ? sgemm_packed_b_size(g.col_width(), g.cout_group())
                         : filter_panels_size(g);
}

// Output pixels px (the first `rows` stored) by kVecs panels from `panel`
// (panel_stride floats apart), `cols` filters of them stored at y (F apart),
// plus bias (may be null), then ReLU if relu.
template <int kVecs>
void direct_tile(const ConvGeometry& g, const PixelOrigin px[kTileRows], const float* zero,
                 const float* panel, int64_t panel_stride, const float* bias, bool relu, int rows,
                 int cols, float* y) {
  __m512 acc[kTileRows][kVecs];
  for (int r = 0; r < kTileRows; ++r)
    for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_setzero_ps();
  for_each_tap_run<kTileRows>(g, px, zero, [&](const float* const row[kTileRows], int64_t len,
                                               int64_t k0) {
    const float* b = panel + k0 * kPanelWidth;
    for (int64_t c = 0; c < len; ++c, b += kPanelWidth) {
      __m512 w[kVecs];
      for (int v = 0; v < kVecs; ++v) w[v] = _mm512_loadu_ps(b + v * panel_stride);
      for (int r = 0; r < kTileRows; ++r) {
        const __m512 a = _mm512_set1_ps(row[r][c]);
        for (int v = 0; v < kVecs; ++v) acc[r][v] = _mm512_fmadd_ps(a, w[v], acc[r][v]);
      }
    }
  });
  const __m512 zero_v = _mm512_setzero_ps();
  for (int v = 0; v < kVecs; ++v) {
    const __mmask16 m = lanes16(cols - v * kPanelWidth);
    const __m512 b = bias ? _mm512_maskz_loadu_ps(m, bias + v * kPanelWidth) : zero_v;
    for (int r = 0; r < kTileRows; ++r) {
      if (r >= rows) break;  // (constant indices: acc stays in registers)
      __m512 out = _mm512_add_ps(acc[r][v], b);
      if (relu) out = _mm512_mask_max_ps(out, m, out, zero_v);
      _mm512_mask_storeu_ps(y + r * g.F + v * kPanelWidth, m, out);
    }
  }
}

void direct_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                    const float* packed, const float* bias, bool relu, int64_t q_begin,
                    int64_t q_end, float* y) {
  const int64_t Cg = g.cin_group(), Fg = g.cout_group(), K = g.col_width();
  const float* panels = group_panels(g, group, kernel, packed);
  const float* zero = zero_row(g);
  const float* xg = x + group * Cg;
  const int64_t n_panels = (Fg + kPanelWidth - 1) / kPanelWidth, stride = K * kPanelWidth;
  // Panel pairs outer: their weights stay in L1 while the pixel tiles stream
  // their input rows past them.
  for (int64_t j = 0; j < n_panels; j += 2) {
    const int cols = static_cast<int>(std::min<int64_t>(2 * kPanelWidth, Fg - j * kPanelWidth));
    const float* pair = panels + j * stride;
    const float* pair_bias = bias ? bias + group * Fg + j * kPanelWidth : nullptr;
    float* y_pair = y + group * Fg + j * kPanelWidth;
    PixelCursor at(g, q_begin);
    for (int64_t q0 = q_begin; q0 < q_end; q0 += kTileRows) {
      const int rows = static_cast<int>(std::min<int64_t>(kTileRows, q_end - q0));
      PixelOrigin px[kTileRows];
      pixel_origins<kTileRows>(g, xg, at, rows, px);
      if (j + 1 < n_panels)
        direct_tile<2>(g, px, zero, pair, stride, pair_bias, relu, rows, cols, y_pair + q0 * g.F);
      else
        direct_tile<1>(g, px, zero, pair, stride, pair_bias, relu, rows, cols, y_pair + q0 * g.F);
    }
  }
}

}  // namespace

int64_t conv_packed_size(const ConvGeometry& g) {
  return planar_forward_applies(g) ? 0 : g.groups * group_packed_size(g);
}

int64_t conv_forward_step(const ConvGeometry& g) {
  if (through_gemm(g)) return 1;  // the GEMM takes any range
  return planar_forward_applies(g) ? avx2::conv_forward_step(g) : kTileRows;
}

void conv_pack(const ConvGeometry& g, const float* kernel, float* packed) {
  const int64_t Fg = g.cout_group();
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    float* out = packed + grp * group_packed_size(g);
    if (through_gemm(g))
      sgemm_pack_b(false, g.col_width(), Fg, kernel + grp * Fg, g.F, out);
    else
      avx2::pack_filter_panels(g, grp, kernel, out);
  }
}

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* packed, const float* bias, bool relu, int64_t q_begin,
                  int64_t q_end, float* y) {
  if (planar_forward_applies(g))  // few filters: vectorised across pixels instead
    return planar_forward_range(conv_forward_planar, g, x, kernel, bias, relu, q_begin, q_end, y);
  if (!through_gemm(g))
    return direct_forward(g, group, x, kernel, packed, bias, relu, q_begin, q_end, y);
  conv_forward_packed(sgemm, g, group, x, kernel, packed ? packed + group * group_packed_size(g) : nullptr,
                      bias, relu, q_begin, q_end, y);
}

}  // namespace pyconv::kernels::avx512

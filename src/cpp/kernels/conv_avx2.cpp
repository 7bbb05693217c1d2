// Direct convolution for AVX2 + FMA (compiled with -mavx2 -mfma).
//
// The packed GEMM's 6x16 register tile, but A is never packed: for each tap
// the six output pixels' input rows are addressed directly (a zero row stands
// in for padding) and their channels are broadcast from there. Only the small
// kernel matrix is packed, into 16-filter panels. Inputs with few channels
// per group go through the packed GEMM instead, where per-tap addressing
// would cost more than the arithmetic it feeds. The cut-off of 4 was
// measured on LeNet's 6-channel layer, which runs faster direct than packed.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <new>

#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::avx2 {

#include "kernels/avx2_tile.h"

namespace {

thread_local Scratch t_panels, t_zeros;

// The group's kernel columns as 16-filter panels: panel j holds, for each of
// the K rows, filters [16j, 16j + 16) (zero past Fg).
const float* pack_kernel(const ConvGeometry& g, int64_t group, const float* kernel) {
  const int64_t K = g.col_width(), Fg = g.cout_group(), panels = (Fg + NR - 1) / NR;
  float* out = t_panels.get(static_cast<size_t>(panels * K * NR));
  for (int64_t j = 0; j < panels; ++j)
    for (int64_t k = 0; k < K; ++k) {
      const float* src = kernel + k * g.F + group * Fg + j * NR;
      float* dst = out + (j * K + k) * NR;
      for (int c = 0; c < NR; ++c) dst[c] = j * NR + c < Fg ? src[c] : 0.f;
    }
  return out;
}

// acc += sum over taps and channels of x(row r) * panel, rows given per tap.
void tile(const ConvGeometry& g, const int64_t* h0, const int64_t* w0, const float* xg,
          const float* zero, const float* panel, __m256 acc[MR][2]) {
  const int64_t Cg = g.cin_group();
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  __m256 c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const float* row[MR];
      for (int r = 0; r < MR; ++r) {
        const int64_t ih = h0[r] + kh * g.DH, iw = w0[r] + kw * g.DW;
        row[r] = (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) ? zero
                                                              : xg + (ih * g.W + iw) * g.C;
      }
      const float* b = panel + (kh * g.KW + kw) * Cg * NR;
      for (int64_t c = 0; c < Cg; ++c, b += NR) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        __m256 a = _mm256_broadcast_ss(row[0] + c);
        c00 = _mm256_fmadd_ps(a, b0, c00);
        c01 = _mm256_fmadd_ps(a, b1, c01);
        a = _mm256_broadcast_ss(row[1] + c);
        c10 = _mm256_fmadd_ps(a, b0, c10);
        c11 = _mm256_fmadd_ps(a, b1, c11);
        a = _mm256_broadcast_ss(row[2] + c);
        c20 = _mm256_fmadd_ps(a, b0, c20);
        c21 = _mm256_fmadd_ps(a, b1, c21);
        a = _mm256_broadcast_ss(row[3] + c);
        c30 = _mm256_fmadd_ps(a, b0, c30);
        c31 = _mm256_fmadd_ps(a, b1, c31);
        a = _mm256_broadcast_ss(row[4] + c);
        c40 = _mm256_fmadd_ps(a, b0, c40);
        c41 = _mm256_fmadd_ps(a, b1, c41);
        a = _mm256_broadcast_ss(row[5] + c);
        c50 = _mm256_fmadd_ps(a, b0, c50);
        c51 = _mm256_fmadd_ps(a, b1, c51);
      }
    }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
  acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
  acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
}

}  // namespace

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y) {
  const int64_t Cg = g.cin_group(), Fg = g.cout_group(), K = g.col_width();
  if (planar_forward_applies(g)) {  // few filters: vectorised across pixels instead
    conv_forward_planar(g, x, kernel, bias, relu, p_begin, p_end, y);
    return;
  }
  if (Cg < 4) {  // few channels: the packed GEMM with columns packed from x
    conv_forward_packed(avx2::sgemm, g, group, x, kernel, bias, relu, p_begin, p_end, y);
    return;
  }
  const float* panels = pack_kernel(g, group, kernel);
  float* zero = t_zeros.get(static_cast<size_t>(Cg));
  std::fill(zero, zero + Cg, 0.f);
  const float* xg = x + group * Cg;
  const int64_t n_panels = (Fg + NR - 1) / NR;
  __m256 acc[MR][2];
  // Panels outer: one panel (K x 16 weights) stays in L1 while the pixel
  // tiles stream their input rows past it.
  for (int64_t j = 0; j < n_panels; ++j) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, Fg - j * NR));
    const Epilogue ep{bias ? bias + group * Fg + j * NR : nullptr, relu};
    for (int64_t p0 = p_begin; p0 < p_end; p0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, p_end - p0));
      int64_t h0[MR], w0[MR];
      for (int r = 0; r < MR; ++r) {  // rows past the end repeat the last pixel
        const int64_t p = p0 + std::min(r, rows - 1);
        h0[r] = (p / g.OW) * g.SH - g.PT;
        w0[r] = (p % g.OW) * g.SW - g.PL;
      }
      tile(g, h0, w0, xg, zero, panels + j * K * NR, acc);
      store_tile(acc, y + p0 * g.F + group * Fg + j * NR, g.F, rows, cols, 1.f, 0.f, ep);
    }
  }
}

}  // namespace pyconv::kernels::avx2

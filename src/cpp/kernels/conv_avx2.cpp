// Direct convolution for AVX2 + FMA (compiled with -mavx2 -mfma).
//
// The packed GEMM's 6x16 register tile, but A is never packed: for each tap
// the six output pixels' input rows are addressed directly (a zero row stands
// in for padding) and their channels are broadcast from there. Only the small
// kernel matrix is packed, into 16-filter panels: once per model (conv_pack)
// for inference, else once per call. Inputs with few channels
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

thread_local Scratch<float> t_panels, t_zeros;

bool packed_columns(const ConvGeometry& g) { return packed_columns_applies(g); }

// One group's share of conv_pack's output, in floats.
int64_t group_packed_size(const ConvGeometry& g) {
  if (packed_columns(g)) return sgemm_packed_b_size(g.col_width(), g.cout_group());
  return (g.cout_group() + NR - 1) / NR * NR * g.col_width();
}

// The group's kernel columns as 16-filter panels: panel j holds, for each of
// the K rows, filters [16j, 16j + 16) (zero past Fg).
void pack_kernel(const ConvGeometry& g, int64_t group, const float* kernel, float* out) {
  const int64_t K = g.col_width(), Fg = g.cout_group(), panels = (Fg + NR - 1) / NR;
  for (int64_t j = 0; j < panels; ++j) {
    const __m256i mask0 = first_lanes(Fg - j * NR), mask1 = first_lanes(Fg - j * NR - 8);
    const float* src = kernel + group * Fg + j * NR;
    float* dst = out + j * K * NR;
    for (int64_t k = 0; k < K; ++k, src += g.F, dst += NR) {
      _mm256_store_ps(dst, _mm256_maskload_ps(src, mask0));
      _mm256_store_ps(dst + 8, _mm256_maskload_ps(src + 8, mask1));
    }
  }
}

// Where an output pixel reads: its sample's input (at the group's first
// channel) and the input position of its top-left tap.
struct PixelOrigin {
  const float* x;
  int64_t h0, w0;
};

// acc = sum over taps and channels of the six pixels' inputs times the panel.
// Where a kernel row's taps read one contiguous run of input for every
// pixel (no dilation, no groups, all in bounds), the row is one run of
// KW * C values: few channels then cost one pass of address setup per
// kernel row instead of one per tap.
void tile(const ConvGeometry& g, const PixelOrigin px[MR], const float* zero, const float* panel,
          __m256 acc[MR][2]) {
  const int64_t Cg = g.cin_group();
  const bool runs = g.DW == 1 && g.groups == 1;
  TileAcc t = zero_tile();
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    bool whole_row = runs;
    for (int r = 0; r < MR && whole_row; ++r) {
      const int64_t ih = px[r].h0 + kh * g.DH;
      whole_row = ih >= 0 && ih < g.H && px[r].w0 >= 0 && px[r].w0 + g.KW <= g.W;
    }
    const int64_t step = whole_row ? g.KW : 1, len = step * Cg;
    for (int64_t kw = 0; kw < g.KW; kw += step) {
      const float* row[MR];
      for (int r = 0; r < MR; ++r) {
        const int64_t ih = px[r].h0 + kh * g.DH, iw = px[r].w0 + kw * g.DW;
        row[r] = (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) ? zero
                                                              : px[r].x + (ih * g.W + iw) * g.C;
      }
      const float* b = panel + (kh * g.KW + kw) * Cg * NR;
      for (int64_t c = 0; c < len; ++c, b += NR) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        tile_step(t, b0, b1, row[0] + c, row[1] + c, row[2] + c, row[3] + c, row[4] + c,
                  row[5] + c);
      }
    }
  }
  tile_to_acc(t, acc);
}

}  // namespace

int64_t conv_packed_size(const ConvGeometry& g) {
  return planar_forward_applies(g) ? 0 : g.groups * group_packed_size(g);
}

// Planar: whole output rows (each part copies the input rows it reads);
// direct: the 6-pixel register tile. The packed GEMM takes any range.
int64_t conv_forward_step(const ConvGeometry& g) {
  if (planar_forward_applies(g)) return g.OW;
  return packed_columns(g) ? 1 : MR;
}

void conv_pack(const ConvGeometry& g, const float* kernel, float* packed) {
  const int64_t Fg = g.cout_group(), size = group_packed_size(g);
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    if (packed_columns(g))
      sgemm_pack_b(false, g.col_width(), Fg, kernel + grp * Fg, g.F, packed + grp * size);
    else
      pack_kernel(g, grp, kernel, packed + grp * size);
  }
}

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* packed, const float* bias, bool relu, int64_t q_begin,
                  int64_t q_end, float* y) {
  const int64_t Cg = g.cin_group(), Fg = g.cout_group(), K = g.col_width();
  const int64_t P = g.out_pixels(), in_size = g.H * g.W * g.C;
  if (planar_forward_applies(g)) {  // few filters: vectorised across pixels instead
    for (int64_t q = q_begin; q < q_end;) {  // sample by sample
      const int64_t n = q / P, p0 = q - n * P, p1 = std::min(P, p0 + q_end - q);
      conv_forward_planar(g, x + n * in_size, kernel, bias, relu, p0, p1, y + n * P * g.F);
      q += p1 - p0;
    }
    return;
  }
  const float* group_packed = packed ? packed + group * group_packed_size(g) : nullptr;
  if (packed_columns(g)) {
    conv_forward_packed(avx2::sgemm, g, group, x, kernel, group_packed, bias, relu, q_begin,
                        q_end, y);
    return;
  }
  const float* panels = group_packed;
  if (!panels) {  // packed once for every sample in the range
    float* own = t_panels.get(static_cast<size_t>(group_packed_size(g)));
    pack_kernel(g, group, kernel, own);
    panels = own;
  }
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
    for (int64_t q0 = q_begin; q0 < q_end; q0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, q_end - q0));
      PixelOrigin px[MR];
      for (int r = 0; r < MR; ++r) {  // rows past the end repeat the last pixel
        const int64_t q = q0 + std::min(r, rows - 1), n = q / P, p = q - n * P;
        px[r] = {xg + n * in_size, (p / g.OW) * g.SH - g.PT, (p % g.OW) * g.SW - g.PL};
      }
      tile(g, px, zero, panels + j * K * NR, acc);
      store_tile(acc, y + q0 * g.F + group * Fg + j * NR, g.F, rows, cols, 1.f, 0.f, ep);
    }
  }
}

}  // namespace pyconv::kernels::avx2

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
#include "kernels/conv_direct_impl.h"

namespace {

// One input channel read with unit steps along rows (stride and dilation 1
// across, one group): most image models' first layer. The pixels of a tile in
// one output row read adjacent values of each input row, so a tap is six
// broadcasts at fixed offsets from one pointer: no per-pixel addressing, which
// with one channel costs more than the arithmetic (and packed columns too).
bool one_channel_rows(const ConvGeometry& g) {
  return g.C == 1 && g.groups == 1 && g.SW == 1 && g.DW == 1;
}

bool packed_columns(const ConvGeometry& g) {
  return packed_columns_applies(g) && !one_channel_rows(g);
}

// One group's share of conv_pack's output, in floats.
int64_t group_packed_size(const ConvGeometry& g) {
  if (packed_columns(g)) return sgemm_packed_b_size(g.col_width(), g.cout_group());
  return filter_panels_size(g);
}

// acc = sum over taps and channels of the six pixels' inputs times the panel.
void tile(const ConvGeometry& g, const PixelOrigin px[MR], const float* zero, const float* panel,
          __m256 acc[MR][2]) {
  TileAcc t = zero_tile();
  for_each_tap_run<MR>(g, px, zero, [&](const float* const row[MR], int64_t len, int64_t k0) {
    const float* b = panel + k0 * NR;
    for (int64_t c = 0; c < len; ++c, b += NR) {
      const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
      tile_step(t, b0, b1, row[0] + c, row[1] + c, row[2] + c, row[3] + c, row[4] + c,
                row[5] + c);
    }
  });
  tile_to_acc(t, acc);
}

// Stores `rows` pixels of a tile whose taps all fall inside the image
// (one_channel_rows): pixel r's first tap is at origin + at[r], or origin + r
// where kRun (six pixels of one output row). Not inlined: inside the range
// loop GCC kept the tap pointers and accumulators on the stack.
template <bool kRun>
[[gnu::noinline]] void one_channel_tile(const ConvGeometry& g, const float* origin,
                                        const int64_t at[MR], const float* panel, float* out,
                                        int rows, int cols, Epilogue ep) {
  int64_t offset[MR];
  for (int r = 0; r < MR; ++r) offset[r] = kRun ? r : at[r];
  TileAcc t = zero_tile();
  for (int64_t kh = 0; kh < g.KH; ++kh, origin += g.DH * g.W)
    for (int64_t kw = 0; kw < g.KW; ++kw, panel += NR) {
      const float* a = origin + kw;
      tile_step(t, _mm256_load_ps(panel), _mm256_load_ps(panel + 8), a + offset[0],
                a + offset[1], a + offset[2], a + offset[3], a + offset[4], a + offset[5]);
    }
  __m256 acc[MR][2];
  tile_to_acc(t, acc);
  store_tile(acc, out, g.F, rows, cols, 1.f, 0.f, ep);
}

// conv_forward for one_channel_rows. A tile may run on into the next output
// row of its sample, one row's stride further into the input; a tile with a
// tap on padding takes the general tile.
void one_channel_forward(const ConvGeometry& g, const float* x, const float* panels,
                         const float* bias, bool relu, int64_t q_begin, int64_t q_end, float* y) {
  const int64_t K = g.col_width(), n_panels = (g.F + NR - 1) / NR;
  const float* zero = zero_row(g);
  // Output row oh's taps fall inside the image's rows; output columns
  // [w_lo, w_hi] have theirs inside its columns.
  auto rows_inside = [&](int64_t oh) {
    const int64_t h0 = oh * g.SH - g.PT;
    return h0 >= 0 && h0 + (g.KH - 1) * g.DH < g.H;
  };
  const int64_t w_lo = g.PL, w_hi = g.W + g.PL - g.KW;
  for (int64_t j = 0; j < n_panels; ++j) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, g.F - j * NR));
    const Epilogue ep{bias ? bias + j * NR : nullptr, relu};
    const float* panel = panels + j * K * NR;
    PixelCursor at(g, q_begin);
    for (int64_t q = q_begin; q < q_end;) {
      // `first` pixels in this output row, the rest (if any) in the next.
      const int64_t in_row = g.OW - at.ow, next_rows = at.oh + 1 < g.OH ? g.OW : 0;
      const int rows = static_cast<int>(std::min({int64_t{MR}, q_end - q, in_row + next_rows}));
      const int first = static_cast<int>(std::min<int64_t>(rows, in_row));
      const bool inside = rows_inside(at.oh) && at.ow >= w_lo && at.ow + first - 1 <= w_hi &&
                          (rows == first || (rows_inside(at.oh + 1) && w_lo == 0 &&
                                             rows - first - 1 <= w_hi));
      float* out = y + q * g.F + j * NR;
      if (inside) {
        const float* origin =
            x + at.n * g.H * g.W + (at.oh * g.SH - g.PT) * g.W + at.ow - g.PL;
        if (rows == MR && first == MR) {
          one_channel_tile<true>(g, origin, nullptr, panel, out, rows, cols, ep);
        } else {
          int64_t offsets[MR];  // the next row's pixels: one row's stride on, from column 0
          for (int r = 0; r < MR; ++r) {
            const int p = std::min(r, rows - 1);
            offsets[r] = p < first ? p : g.SH * g.W + (p - first) - at.ow;
          }
          one_channel_tile<false>(g, origin, offsets, panel, out, rows, cols, ep);
        }
        at.advance(g, rows);
      } else {
        PixelOrigin px[MR];
        pixel_origins<MR>(g, x, at, rows, px);
        __m256 acc[MR][2];
        tile(g, px, zero, panel, acc);
        store_tile(acc, out, g.F, rows, cols, 1.f, 0.f, ep);
      }
      q += rows;
    }
  }
}

}  // namespace

// The group's kernel columns as 16-filter panels (kernels/conv_direct_impl.h).
void pack_filter_panels(const ConvGeometry& g, int64_t group, const float* kernel, float* out) {
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
      pack_filter_panels(g, grp, kernel, packed + grp * size);
  }
}

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* packed, const float* bias, bool relu, int64_t q_begin,
                  int64_t q_end, float* y) {
  const int64_t Cg = g.cin_group(), Fg = g.cout_group(), K = g.col_width();
  if (planar_forward_applies(g))  // few filters: vectorised across pixels instead
    return planar_forward_range(conv_forward_planar, g, x, kernel, bias, relu, q_begin, q_end, y);
  if (packed_columns(g)) {
    conv_forward_packed(avx2::sgemm, g, group, x, kernel,
                        packed ? packed + group * group_packed_size(g) : nullptr, bias, relu,
                        q_begin, q_end, y);
    return;
  }
  const float* panels = group_panels(g, group, kernel, packed);
  if (one_channel_rows(g))
    return one_channel_forward(g, x, panels, bias, relu, q_begin, q_end, y);
  const float* zero = zero_row(g);
  const float* xg = x + group * Cg;
  const int64_t n_panels = (Fg + NR - 1) / NR;
  __m256 acc[MR][2];
  // Panels outer: one panel (K x 16 weights) stays in L1 while the pixel
  // tiles stream their input rows past it.
  for (int64_t j = 0; j < n_panels; ++j) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, Fg - j * NR));
    const Epilogue ep{bias ? bias + group * Fg + j * NR : nullptr, relu};
    PixelCursor at(g, q_begin);
    for (int64_t q0 = q_begin; q0 < q_end; q0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, q_end - q0));
      PixelOrigin px[MR];
      pixel_origins<MR>(g, xg, at, rows, px);
      tile(g, px, zero, panels + j * K * NR, acc);
      store_tile(acc, y + q0 * g.F + group * Fg + j * NR, g.F, rows, cols, 1.f, 0.f, ep);
    }
  }
}

}  // namespace pyconv::kernels::avx2

// The planar convolution forward (few filters: kernels/conv_planar_impl.h)
// for the "avx512" table: 16 or 32 neighbouring pixels a step, so a 28-pixel
// row (LeNet's first layer) takes one step where AVX2 takes two. And the
// kernel gradient on the same planes, across filters on the GEMM's 6x32 tile
// (a first layer's 9 taps by 32 filters: 4.7 times AVX2's speed, `perf` on
// the Keras example's step).
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/conv.h"

namespace pyconv::kernels::avx512 {

#include "kernels/avx2_lanes.h"
#include "kernels/avx512_tile.h"
#include "kernels/scratch.h"

namespace {
struct Lanes {  // for kernels/conv_planar_impl.h
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void store_aligned(float* p, V v) { _mm512_store_ps(p, v); }
};
}  // namespace

#include "kernels/conv_planar_impl.h"

namespace {
thread_local Scratch<float> t_planes;
}  // namespace

namespace {
// dk[taps, F] += the kernel gradient, one 6x32 tile at a time: rows are
// kernel rows (taps) read from the planes, columns filters read from dy
// where it lies, and the depth walks the output pixels an image row (one
// segment) at a time.
void filter_grad_tiles(const ConvGeometry& g, const Planes& x, const int64_t* offsets,
                       const float* dy, float* dk) {
  const int64_t taps = g.col_width();
  TileRegs acc;
  for (int64_t f0 = 0; f0 < g.F; f0 += NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, g.F - f0));
    for (int64_t t0 = 0; t0 < taps; t0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, taps - t0));
      const float* a[MR];  // rows past the last tap repeat it: read, never stored
      for (int r = 0; r < MR; ++r) a[r] = x.data + offsets[t0 + std::min(r, rows - 1)];
      if (cols == NR)
        micro_kernel_rows<false>(g.OW, a, 1, dy + f0, g.F, 0, 0, acc, g.OH, x.width, g.OW * g.F);
      else
        micro_kernel_rows<true>(g.OW, a, 1, dy + f0, g.F, lanes16(cols), lanes16(cols - 16), acc,
                                g.OH, x.width, g.OW * g.F);
      store_tile(acc, dk + t0 * g.F + f0, g.F, rows, cols, 1.f, 1.f, Epilogue{nullptr, false});
    }
  }
}
}  // namespace

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dk) {
  const int64_t width = g.OW + (g.KW - 1) * g.DW;
  // This tile's lanes are twice AVX2's: it pays where it fills more than
  // half as many as the better AVX2 form (across filters, or across pixels,
  // whose lanes past each row's OW pixels are wasted).
  const double avx2_use = std::max(filter_tile_use(g, 6, 16),
                                   static_cast<double>(g.OW) / static_cast<double>(width));
  if (2 * filter_tile_use(g, MR, NR) <= avx2_use) return avx2::conv_backward_filter(g, x, dy, dk);
  const Planes xp = make_planes(t_planes, x, g.H, g.W, g.C, g.C, g.PT, g.PL, 0,
                                g.OH + (g.KH - 1) * g.DH, width);
  filter_grad_tiles(g, xp, tap_offsets(g, xp), dy, dk);
}

void conv_forward_planar(const ConvGeometry& g, const float* x, const float* kernel,
                         const float* bias, bool relu, int64_t p_begin, int64_t p_end,
                         float* y) {
  planar_forward(t_planes, g, x, kernel, bias, relu, p_begin, p_end, y);
}

}  // namespace pyconv::kernels::avx512

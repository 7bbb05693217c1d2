// Convolution vectorised across output pixels, for AVX2 + FMA (compiled with
// -mavx2 -mfma): the kernels for few filters (forward, 8 or 16 pixels a
// step: kernels/conv_planar_impl.h) and for the kernel gradient of stride-1
// ungrouped convolutions, on the same zero-padded planes.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/conv.h"

namespace pyconv::kernels::avx2 {

#include "kernels/avx2_tile.h"

namespace {
struct Lanes {  // for kernels/conv_planar_impl.h
  using V = __m256;
  static constexpr int kWidth = 8;
  static V zero() { return _mm256_setzero_ps(); }
  static V load(const float* p) { return _mm256_loadu_ps(p); }
  static V broadcast(const float* p) { return _mm256_broadcast_ss(p); }
  static V fmadd(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static void store_aligned(float* p, V v) { _mm256_store_ps(p, v); }
};
}  // namespace

#include "kernels/conv_planar_impl.h"

namespace {

thread_local Scratch<float> t_planes, t_dy_planes;

// out[f] += the lane sum of acc[f], for f < n (<= 8).
inline void add_sums(const __m256 acc[8], int n, float* out) {
  const __m256 h01 = _mm256_hadd_ps(acc[0], acc[1]), h23 = _mm256_hadd_ps(acc[2], acc[3]);
  const __m256 h45 = _mm256_hadd_ps(acc[4], acc[5]), h67 = _mm256_hadd_ps(acc[6], acc[7]);
  const __m256 q0 = _mm256_hadd_ps(h01, h23), q1 = _mm256_hadd_ps(h45, h67);
  // q0 lanes: sums of 0-3 over the low halves, then over the high halves.
  const __m256 sums = _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20),
                                    _mm256_permute2f128_ps(q0, q1, 0x31));
  if (n == 8) {
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_loadu_ps(out), sums));
    return;
  }
  alignas(32) float lanes[8];
  _mm256_store_ps(lanes, sums);
  for (int f = 0; f < n; ++f) out[f] += lanes[f];
}

// dy for the kernel gradient, blocked so that one pointer reaches every
// operand of the inner loop: for each block of 8 filters and each run of 8
// wide pixels, 8 vectors (one per filter, zero past F) of those pixels.
// Wide pixels (column >= OW) are zero, so the products they add are zero.
struct DyBlocks {
  const float* data;
  int64_t runs;  // runs of 8 wide pixels; a block is runs * 64 floats
};

DyBlocks make_dy_blocks(const float* dy, const ConvGeometry& g, int64_t width) {
  const int64_t runs = (g.OH * width + 7) / 8, blocks = (g.F + 7) / 8;
  float* out = t_dy_planes.get(static_cast<size_t>(blocks * runs * 64));
  for (int64_t b = 0; b < blocks; ++b) {
    const __m256i mask = first_lanes(g.F - 8 * b);
    for (int64_t q = 0; q < runs; ++q) {
      // The run's 8 pixels' filter values (zero for wide pixels), transposed.
      __m256 px[8], filters[8];
      for (int j = 0; j < 8; ++j) {
        const int64_t p = q * 8 + j, oh = p / width, ow = p % width;
        px[j] = oh < g.OH && ow < g.OW
                    ? _mm256_maskload_ps(dy + (oh * g.OW + ow) * g.F + 8 * b, mask)
                    : _mm256_setzero_ps();
      }
      transpose8(px, filters);
      float* dst = out + (b * runs + q) * 64;
      for (int f = 0; f < 8; ++f) _mm256_store_ps(dst + 8 * f, filters[f]);
    }
  }
  return DyBlocks{out, runs};
}

// dk[tap][c][8b .. 8b + kF) += sum over wide pixels of plane_c[pixel + offset(tap)] * dy_f.
template <int kF>
void filter_grad_block(const ConvGeometry& g, const Planes& x, const int64_t* offsets,
                       const DyBlocks& dy, int64_t b, float* dk) {
  const int64_t taps = g.col_width();
  const float* block = dy.data + b * dy.runs * 64;
  for (int64_t t = 0; t < taps; ++t) {
    const float* src = x.data + offsets[t];
    const float* d = block;
    __m256 acc[8];
    for (int f = 0; f < 8; ++f) acc[f] = _mm256_setzero_ps();
    for (int64_t q = 0; q < dy.runs; ++q, src += 8, d += 64) {
      const __m256 xv = _mm256_loadu_ps(src);
      for (int f = 0; f < kF; ++f) acc[f] = _mm256_fmadd_ps(xv, _mm256_load_ps(d + 8 * f), acc[f]);
    }
    add_sums(acc, kF, dk + t * g.F + 8 * b);  // kernel row t = (kh, kw, c)
  }
}

// The kernel gradient vectorised across filters instead, as the 6x16 GEMM
// tile: rows are kernel rows (taps), columns filters, and the depth walks
// the real output pixels one image row at a time, reading dy where it lies
// (NHWC rows of F). Better than the wide-pixel form when the wide columns
// would waste more lanes than partial tiles do.
bool filter_grad_across_filters(const ConvGeometry& g, int64_t width) {
  return filter_tile_use(g, MR, NR) > static_cast<double>(g.OW) / static_cast<double>(width);
}

void filter_grad_tiles(const ConvGeometry& g, const Planes& x, const int64_t* offsets,
                       const float* dy, float* dk) {
  const int64_t taps = g.col_width();
  __m256 acc[MR][2];
  for (int64_t f0 = 0; f0 < g.F; f0 += NR) {
    const int cols = static_cast<int>(std::min<int64_t>(NR, g.F - f0));
    const __m256i mask[2] = {first_lanes(cols), first_lanes(cols - 8)};
    for (int64_t t0 = 0; t0 < taps; t0 += MR) {
      const int rows = static_cast<int>(std::min<int64_t>(MR, taps - t0));
      const float* a[MR];  // rows past the last tap repeat it: read, never stored
      for (int r = 0; r < MR; ++r) a[r] = x.data + offsets[t0 + std::min(r, rows - 1)];
      if (cols == NR)
        micro_kernel_rows<false>(g.OW, a, 1, dy + f0, g.F, mask, acc, g.OH, x.width, g.OW * g.F);
      else
        micro_kernel_rows<true>(g.OW, a, 1, dy + f0, g.F, mask, acc, g.OH, x.width, g.OW * g.F);
      store_tile(acc, dk + t0 * g.F + f0, g.F, rows, cols, 1.f, 1.f, Epilogue{nullptr, false});
    }
  }
}

}  // namespace

void conv_forward_planar(const ConvGeometry& g, const float* x, const float* kernel,
                         const float* bias, bool relu, int64_t p_begin, int64_t p_end,
                         float* y) {
  planar_forward(t_planes, g, x, kernel, bias, relu, p_begin, p_end, y);
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dk) {
  const int64_t width = g.OW + (g.KW - 1) * g.DW;
  const Planes xp = make_planes(t_planes, x, g.H, g.W, g.C, g.C, g.PT, g.PL, 0,
                                g.OH + (g.KH - 1) * g.DH, width);
  const int64_t* offsets = tap_offsets(g, xp);
  if (filter_grad_across_filters(g, width)) {
    filter_grad_tiles(g, xp, offsets, dy, dk);
    return;
  }
  const DyBlocks blocks = make_dy_blocks(dy, g, width);
  for (int64_t b = 0; b * 8 < g.F; ++b) {
    switch (std::min<int64_t>(8, g.F - b * 8)) {
#define PCV_CASE(n)                                      \
  case n:                                                \
    filter_grad_block<n>(g, xp, offsets, blocks, b, dk); \
    break;
      PCV_CASE(1) PCV_CASE(2) PCV_CASE(3) PCV_CASE(4)
      PCV_CASE(5) PCV_CASE(6) PCV_CASE(7) PCV_CASE(8)
#undef PCV_CASE
    }
  }
}

}  // namespace pyconv::kernels::avx2

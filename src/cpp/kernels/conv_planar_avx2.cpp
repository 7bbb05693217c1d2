// Convolution vectorised across output pixels, for AVX2 + FMA (compiled with
// -mavx2 -mfma): the kernels for few filters (forward) and for the kernel
// gradient of stride-1 ungrouped convolutions.
//
// With few filters, a 16-filter register tile is mostly empty. Here the
// input is copied once into zero-padded planes, one per channel, and the
// output is computed a row segment at a time: 8 or 16 neighbouring pixels
// in the lanes of a vector. For stride 1 the input a tap needs for a run of
// pixels is then a contiguous run of the plane. Rows are computed at the
// padded plane width ("wide" rows); the extra columns are never stored.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/conv.h"

namespace pyconv::kernels::avx2 {

#include "kernels/avx2_tile.h"

namespace {

thread_local Scratch<float> t_planes, t_dy_planes;

// Zero-padded channel planes of rows [r0, r0 + rows) of a padded NHWC image
// (pad_top/pad_left zeros before it): plane c starts at c * plane_size, rows
// are `width` floats, and every plane ends with a spare row and 16 zeros:
// the wide vectors of the last row, shifted by a tap, read there.
struct Planes {
  const float* data;
  int64_t width, plane_size;
};

Planes make_planes(Scratch<float>& scratch, const float* x, int64_t H, int64_t W, int64_t C,
                   int64_t stride, int64_t pad_top, int64_t pad_left, int64_t r0, int64_t rows,
                   int64_t width) {
  const int64_t plane_size = (rows + 1) * width + 16;
  float* out = scratch.get(static_cast<size_t>(C * plane_size));
  // Padding may be negative (an input gradient's): columns outside are cut.
  const int64_t w0 = std::max<int64_t>(0, -pad_left), w1 = std::min(W, width - pad_left);
  // Only what no input lands on is zeroed: a batch-1 conv1 otherwise spends
  // as long clearing its planes as copying into them.
  for (int64_t c = 0; c < C; ++c) {
    float* plane = out + c * plane_size;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r0 + r - pad_top;
      float* row = plane + r * width;
      if (h < 0 || h >= H || w0 >= w1) {
        std::memset(row, 0, sizeof(float) * width);
        continue;
      }
      const int64_t lo = w0 + pad_left, hi = w1 + pad_left;  // [lo, hi) is input
      if (lo > 0) std::memset(row, 0, sizeof(float) * lo);
      if (hi < width) std::memset(row + hi, 0, sizeof(float) * (width - hi));
    }
    std::memset(plane + rows * width, 0, sizeof(float) * (width + 16));  // spare row, tail
  }
  if (w0 < w1) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r0 + r - pad_top;
      if (h < 0 || h >= H) continue;
      const float* src = x + (h * W + w0) * stride;
      float* dst = out + r * width + w0 + pad_left;
      if (C == 1 && stride == 1) {  // one plane: the row as it lies
        std::memcpy(dst, src, sizeof(float) * (w1 - w0));
        continue;
      }
      for (int64_t w = 0; w < w1 - w0; ++w, src += stride)
        for (int64_t c = 0; c < C; ++c) dst[c * plane_size + w] = src[c];
    }
  }
  return Planes{out, width, plane_size};
}

// Where each kernel row (kh, kw, c) reads, relative to the output pixel's
// own position in the planes.
const int64_t* tap_offsets(const ConvGeometry& g, const Planes& planes) {
  static thread_local Scratch<int64_t> t_offsets;
  int64_t* offsets = t_offsets.get(static_cast<size_t>(g.col_width()));
  size_t t = 0;
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw)
      for (int64_t c = 0; c < g.C; ++c)
        offsets[t++] = c * planes.plane_size + kh * g.DH * planes.width + kw * g.DW;
  return offsets;
}

// Stores `count` (<= 8) pixels of an NHWC output with F <= 8 values per
// pixel at y. Each pixel is stored as 8 lanes, the extra ones landing on the
// pixels after it, which are stored later; a store that would pass `room`
// (the floats this call may write from y) is masked to F lanes.
inline void store_pixels(const __m256 px[8], int count, int64_t room, int64_t F, float* y) {
  const __m256i mask = first_lanes(F);
  for (int j = 0; j < count; ++j) {
    if (j * F + 8 <= room)
      _mm256_storeu_ps(y + j * F, px[j]);
    else
      _mm256_maskstore_ps(y + j * F, mask, px[j]);
  }
}

// Output pixels [p_begin, p_end), kF filters (<= 8), kV vectors of 8 pixels
// per step: acc[f][v] += w[tap][c][f] * plane_c[pixel + offset(tap)].
template <int kF, int kV>
void forward_rows(const ConvGeometry& g, const Planes& planes, int64_t row0, const float* kernel,
                  const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y) {
  const int64_t F = g.F, OW = g.OW, taps_per_row = g.KW * g.C;
  const int64_t* offsets = tap_offsets(g, planes);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t p = p_begin; p < p_end;) {
    const int64_t oh = p / OW, ow = p % OW;
    const int count = static_cast<int>(std::min<int64_t>({8 * kV, OW - ow, p_end - p}));
    __m256 acc[kF][kV];
    for (int f = 0; f < kF; ++f)
      for (int v = 0; v < kV; ++v) acc[f][v] = zero;
    // Kernel rows whose input row is padding read only zeros: skipped (in an
    // input gradient, most of the dy rows a border output row would read).
    int64_t kh_lo = 0, kh_hi = g.KH;
    while (kh_lo < kh_hi && oh + kh_lo * g.DH - g.PT < 0) ++kh_lo;
    while (kh_hi > kh_lo && oh + (kh_hi - 1) * g.DH - g.PT >= g.H) --kh_hi;
    // One flat loop over the kernel's rows, so the accumulators stay in registers.
    const float* base = planes.data + (oh - row0) * planes.width + ow;
    const float* w = kernel + kh_lo * taps_per_row * F;
    for (int64_t t = kh_lo * taps_per_row; t < kh_hi * taps_per_row; ++t, w += F) {
      const float* src = base + offsets[t];
      __m256 xv[kV];
      for (int v = 0; v < kV; ++v) xv[v] = _mm256_loadu_ps(src + 8 * v);
      for (int f = 0; f < kF; ++f) {
        const __m256 wf = _mm256_broadcast_ss(w + f);
        for (int v = 0; v < kV; ++v) acc[f][v] = _mm256_fmadd_ps(wf, xv[v], acc[f][v]);
      }
    }
    // acc leaves registers here, through constant indices only: indexing it
    // by the run-time v below would make the compiler keep it in memory.
    alignas(32) float sums[kF][8 * kV];
    for (int f = 0; f < kF; ++f)
      for (int v = 0; v < kV; ++v) _mm256_store_ps(sums[f] + 8 * v, acc[f][v]);
    for (int v = 0; v < kV && 8 * v < count; ++v) {
      __m256 rows[8], px[8];
      for (int f = 0; f < 8; ++f) {
        if (f >= kF) {
          rows[f] = zero;
          continue;
        }
        rows[f] = _mm256_load_ps(sums[f] + 8 * v);
        if (bias) rows[f] = _mm256_add_ps(rows[f], _mm256_broadcast_ss(bias + f));
        if (relu) rows[f] = _mm256_max_ps(rows[f], zero);
      }
      transpose8(rows, px);
      const int n = std::min(8, count - 8 * v);
      store_pixels(px, n, (p_end - p - 8 * v) * F, F, y + (p + 8 * v) * F);
    }
    p += count;
  }
}

template <int kF>
void forward_rows_for(const ConvGeometry& g, const Planes& planes, int64_t row0,
                      const float* kernel, const float* bias, bool relu, int64_t p_begin,
                      int64_t p_end, float* y) {
  // Up to 6 filters: 2 vectors (12 accumulators); 7-8 filters: 1 vector.
  constexpr int kV = kF <= 6 ? 2 : 1;
  forward_rows<kF, kV>(g, planes, row0, kernel, bias, relu, p_begin, p_end, y);
}

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
  const int64_t taps = g.col_width(), F = g.F;
  const double tile_use = static_cast<double>(taps) / ((taps + MR - 1) / MR * MR) *
                          static_cast<double>(F) / ((F + NR - 1) / NR * NR);
  return tile_use > static_cast<double>(g.OW) / static_cast<double>(width);
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
  if (p_begin >= p_end) return;
  // Padded rows that output rows [first, last] read.
  const int64_t first = p_begin / g.OW, last = (p_end - 1) / g.OW;
  const int64_t rows = last - first + 1 + (g.KH - 1) * g.DH;
  const int64_t width = g.OW + (g.KW - 1) * g.DW;  // = W + left and right padding
  const Planes planes = make_planes(t_planes, x, g.H, g.W, g.C, g.C, g.PT, g.PL, first, rows,
                                    width);
  switch (g.F) {
#define PCV_CASE(n)                                                               \
  case n:                                                                         \
    forward_rows_for<n>(g, planes, first, kernel, bias, relu, p_begin, p_end, y); \
    break;
    PCV_CASE(1) PCV_CASE(2) PCV_CASE(3) PCV_CASE(4)
    PCV_CASE(5) PCV_CASE(6) PCV_CASE(7) PCV_CASE(8)
#undef PCV_CASE
    default:
      std::abort();  // the caller checks planar_forward_applies
  }
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

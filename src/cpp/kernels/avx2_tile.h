// Pieces shared by the AVX2 kernels that use the 6x16 register tile (packed
// GEMM, direct convolution): tile sizes, the GEMM micro-
// kernel and the tile store with its epilogue (and kernels/avx2_lanes.h). Included inside
// pyconv::kernels::avx2 by files compiled with -mavx2 -mfma; everything is in
// an anonymous namespace, so each file has its own copy and no AVX2 symbol
// is visible outside it. The including file provides <immintrin.h>,
// <algorithm>, <cstdlib> and <new>.

#include "kernels/avx2_lanes.h"
#include "kernels/scratch.h"

namespace {

constexpr int MR = 6;       // rows of C per micro-tile
constexpr int NR = 16;      // columns of C per micro-tile (two ymm registers)
using TileRegs = __m256[MR][2];  // a micro-tile's accumulators: row r, columns [8v, 8v + 8)

// The twelve accumulators of a 6x16 tile, c{r}{v}: row r, columns
// [8v, 8v + 8). Kept as named members of a local, so that once the helpers
// below are inlined they live in registers.
struct TileAcc {
  __m256 c00, c01, c10, c11, c20, c21, c30, c31, c40, c41, c50, c51;
};

inline TileAcc zero_tile() {
  const __m256 z = _mm256_setzero_ps();
  return {z, z, z, z, z, z, z, z, z, z, z, z};
}

// One depth step: row r's accumulators += (*a_r) * (b0, b1).
inline void tile_step(TileAcc& t, __m256 b0, __m256 b1, const float* a0, const float* a1,
                      const float* a2, const float* a3, const float* a4, const float* a5) {
  __m256 ar = _mm256_broadcast_ss(a0);
  t.c00 = _mm256_fmadd_ps(ar, b0, t.c00);
  t.c01 = _mm256_fmadd_ps(ar, b1, t.c01);
  ar = _mm256_broadcast_ss(a1);
  t.c10 = _mm256_fmadd_ps(ar, b0, t.c10);
  t.c11 = _mm256_fmadd_ps(ar, b1, t.c11);
  ar = _mm256_broadcast_ss(a2);
  t.c20 = _mm256_fmadd_ps(ar, b0, t.c20);
  t.c21 = _mm256_fmadd_ps(ar, b1, t.c21);
  ar = _mm256_broadcast_ss(a3);
  t.c30 = _mm256_fmadd_ps(ar, b0, t.c30);
  t.c31 = _mm256_fmadd_ps(ar, b1, t.c31);
  ar = _mm256_broadcast_ss(a4);
  t.c40 = _mm256_fmadd_ps(ar, b0, t.c40);
  t.c41 = _mm256_fmadd_ps(ar, b1, t.c41);
  ar = _mm256_broadcast_ss(a5);
  t.c50 = _mm256_fmadd_ps(ar, b0, t.c50);
  t.c51 = _mm256_fmadd_ps(ar, b1, t.c51);
}

inline void tile_to_acc(const TileAcc& t, __m256 acc[MR][2]) {
  acc[0][0] = t.c00, acc[0][1] = t.c01, acc[1][0] = t.c10, acc[1][1] = t.c11;
  acc[2][0] = t.c20, acc[2][1] = t.c21, acc[3][0] = t.c30, acc[3][1] = t.c31;
  acc[4][0] = t.c40, acc[4][1] = t.c41, acc[5][0] = t.c50, acc[5][1] = t.c51;
}

// acc[MR x NR] = sum over k of A(r, k) * B(k, c), where A(r, k) = rows[r][k * ks]
// and B(k, c) = b[k * ldb + c]. Packed panels are rows = a + r, ks = MR,
// ldb = NR; an operand small enough to stay in cache is read where it lies.
// kMasked: B has fewer than NR columns, and lanes past them are not read.
// The depth may come in `segments` runs of kc steps, run s reading A from
// rows[r] + s * a_step and B from b + s * b_step (one image row per run).
template <bool kMasked>
inline void micro_kernel_rows(int64_t kc, const float* const rows[MR], int64_t ks, const float* b,
                              int64_t ldb, const __m256i mask[2], __m256 acc[MR][2],
                              int64_t segments = 1, int64_t a_step = 0, int64_t b_step = 0) {
  TileAcc t = zero_tile();
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3], *a4 = rows[4],
              *a5 = rows[5];
  for (int64_t s = 0; s < segments; ++s) {
    const float* bk = b + s * b_step;
    for (int64_t k = 0, o = s * a_step; k < kc; ++k, o += ks, bk += ldb) {
      const __m256 b0 = kMasked ? _mm256_maskload_ps(bk, mask[0]) : _mm256_loadu_ps(bk);
      const __m256 b1 = kMasked ? _mm256_maskload_ps(bk + 8, mask[1]) : _mm256_loadu_ps(bk + 8);
      tile_step(t, b0, b1, a0 + o, a1 + o, a2 + o, a3 + o, a4 + o, a5 + o);
    }
  }
  tile_to_acc(t, acc);
}

// One packed A panel (MR values per k) times one packed B panel (NR per k).
inline void micro_kernel(int64_t kc, const float* a, const float* b, __m256 acc[MR][2]) {
  const float* const rows[MR] = {a, a + 1, a + 2, a + 3, a + 4, a + 5};
  micro_kernel_rows<false>(kc, rows, MR, b, NR, nullptr, acc);
}

// What the final store adds: the bias of this tile's columns, and ReLU.
struct Epilogue {
  const float* bias;  // null: none
  bool relu;
};

// C tile = alpha * acc + beta * C (+ epilogue); beta == 0: C is not read.
inline void store_tile(__m256 acc[MR][2], float* C, int64_t ldc, int mr, int nr, float alpha,
                float beta, Epilogue ep) {
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const __m256 zero = _mm256_setzero_ps();
  if (mr == MR && nr == NR) {
    const __m256 bias0 = ep.bias ? _mm256_loadu_ps(ep.bias) : zero;
    const __m256 bias1 = ep.bias ? _mm256_loadu_ps(ep.bias + 8) : zero;
    for (int r = 0; r < MR; ++r) {
      float* c = C + r * ldc;
      __m256 c0 = _mm256_fmadd_ps(va, acc[r][0], bias0);
      __m256 c1 = _mm256_fmadd_ps(va, acc[r][1], bias1);
      if (beta != 0.f) {
        c0 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c), c0);
        c1 = _mm256_fmadd_ps(vb, _mm256_loadu_ps(c + 8), c1);
      }
      if (ep.relu) {
        c0 = _mm256_max_ps(c0, zero);
        c1 = _mm256_max_ps(c1, zero);
      }
      _mm256_storeu_ps(c, c0);
      _mm256_storeu_ps(c + 8, c1);
    }
    return;
  }
  // A part tile rounds as a whole one does (the bias, then the earlier depth
  // blocks' sum, each in one fused step), so a row's values do not depend on
  // which tile it falls in: where a thread's range or a band of rows ends.
  alignas(32) float tile[MR][NR];
  for (int r = 0; r < MR; ++r) {
    _mm256_store_ps(tile[r], acc[r][0]);
    _mm256_store_ps(tile[r] + 8, acc[r][1]);
  }
  auto fused = [](float a, float b, float c) {  // a * b + c, rounded once
    return _mm_cvtss_f32(_mm_fmadd_ss(_mm_set_ss(a), _mm_set_ss(b), _mm_set_ss(c)));
  };
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < nr; ++c) {
      float* dst = C + r * ldc + c;
      float v = fused(alpha, tile[r][c], ep.bias ? ep.bias[c] : 0.f);
      if (beta != 0.f) v = fused(beta, *dst, v);
      *dst = ep.relu ? std::max(v, 0.f) : v;
    }
}

}  // namespace

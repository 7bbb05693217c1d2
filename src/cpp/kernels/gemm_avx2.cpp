// Packed SGEMM for AVX2 + FMA, compiled with -mavx2 -mfma (this file only).
//
// The classic blocked scheme: op(B) is packed KC x NC at a time into NR-wide
// column panels, op(A) MC x KC at a time into MR-tall row panels, and a 6x16
// register-tiled micro-kernel multiplies one A panel by one B panel. Packing
// also absorbs the transposes, so all four trans_a/trans_b cases share the
// micro-kernel. Everything here lives in pyconv::kernels::avx2 or an anonymous
// namespace so no AVX2 code can be picked by the linker for another ISA.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "core/threads.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::avx2 {

#include "kernels/avx2_tile.h"

namespace {

constexpr int64_t KC = 320; // most depth per packed block: a B panel (20 KB) stays in L1
constexpr int64_t MC = 120; // rows of one packed A block (120 KB): stays in L2
constexpr int64_t NC = 2048;  // columns of one packed B block (2 MB): stays in L3

#include "kernels/gemm_pack_a_impl.h"
#include "kernels/gemm_pack_impl.h"

// The tile of rows[r][k * ks] times B's first nr <= NR columns, read where
// they lie (b[k * ldb + c]): the unpacked path's micro-kernel. Not inlined:
// inside the driver's loops GCC kept one of the twelve accumulators on the
// stack, a store and reload every depth step (Winograd's small products ran
// 1.5x slower).
[[gnu::noinline]] void tile_rows(int64_t K, const float* const rows[MR], int64_t ks, const float* b, int64_t ldb,
               int nr, TileRegs acc) {
  const __m256i mask[2] = {first_lanes(nr), first_lanes(nr - 8)};
  if (nr == NR)
    micro_kernel_rows<false>(K, rows, ks, b, ldb, mask, acc);
  else
    micro_kernel_rows<true>(K, rows, ks, b, ldb, mask, acc);
}

#include "kernels/gemm_driver_impl.h"

// The streamed kernel's vectors (kernels/gemm_streamed_impl.h): 8 floats.
using Vec = __m256;
using Mask = __m256i;
constexpr int64_t kLanes = 8;
inline Mask mask_first(int64_t n) { return first_lanes(n); }
inline Vec vzero() { return _mm256_setzero_ps(); }
inline Vec vset1(float a) { return _mm256_set1_ps(a); }
inline Vec vload(const float* p) { return _mm256_loadu_ps(p); }
inline Vec vload(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
inline void vstore(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline void vstore(float* p, Mask m, Vec v) { _mm256_maskstore_ps(p, m, v); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
inline Vec vmul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
inline Vec vadd(Vec a, Vec b) { return _mm256_add_ps(a, b); }
inline Vec vmax(Vec a, Vec b) { return _mm256_max_ps(a, b); }

#include "kernels/gemm_streamed_impl.h"

// acc[r][v] = sum over k of rows[r][k * ks] * b[k * ldb + 8v ..], 32
// columns (masked past nr where kMasked).
template <bool kMasked>
void wide_tile_sums(int64_t K, const float* const rows[3], int64_t ks, const float* b,
                    int64_t ldb, const __m256i mask[4], __m256 acc[3][4]) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
         c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00;
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2];
  for (int64_t k = 0, o = 0; k < K; ++k, o += ks, b += ldb) {
    const __m256 b0 = kMasked ? _mm256_maskload_ps(b, mask[0]) : _mm256_loadu_ps(b);
    const __m256 b1 = kMasked ? _mm256_maskload_ps(b + 8, mask[1]) : _mm256_loadu_ps(b + 8);
    const __m256 b2 = kMasked ? _mm256_maskload_ps(b + 16, mask[2]) : _mm256_loadu_ps(b + 16);
    const __m256 b3 = kMasked ? _mm256_maskload_ps(b + 24, mask[3]) : _mm256_loadu_ps(b + 24);
    __m256 a = _mm256_broadcast_ss(a0 + o);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    c02 = _mm256_fmadd_ps(a, b2, c02), c03 = _mm256_fmadd_ps(a, b3, c03);
    a = _mm256_broadcast_ss(a1 + o);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    c12 = _mm256_fmadd_ps(a, b2, c12), c13 = _mm256_fmadd_ps(a, b3, c13);
    a = _mm256_broadcast_ss(a2 + o);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    c22 = _mm256_fmadd_ps(a, b2, c22), c23 = _mm256_fmadd_ps(a, b3, c23);
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[0][2] = c02, acc[0][3] = c03;
  acc[1][0] = c10, acc[1][1] = c11, acc[1][2] = c12, acc[1][3] = c13;
  acc[2][0] = c20, acc[2][1] = c21, acc[2][2] = c22, acc[2][3] = c23;
}

// Rows [i0, i0 + mr) of an unpacked product (mr <= 3), 32 columns (two
// panels) from j: 3 x 4 vectors, as many accumulators as the 6x16 tile.
// Not inlined, as tile_rows.
[[gnu::noinline]] void wide_tile_rows(const Problem& p, int64_t i0, int mr, int64_t j,
                                      int64_t row_step, int64_t k_step) {
  const int nr = static_cast<int>(std::min<int64_t>(2 * NR, p.N - j));
  __m256i mask[4];
  for (int v = 0; v < 4; ++v) mask[v] = first_lanes(nr - 8 * v);
  const float* rows[3];  // rows past mr repeat the last one: read, never stored
  for (int r = 0; r < 3; ++r) rows[r] = p.A + (i0 + std::min(r, mr - 1)) * row_step;
  __m256 acc[3][4];
  if (nr == 2 * NR)
    wide_tile_sums<false>(p.K, rows, k_step, p.B + j, p.ldb, mask, acc);
  else
    wide_tile_sums<true>(p.K, rows, k_step, p.B + j, p.ldb, mask, acc);
  for (int r = 0; r < mr; ++r)
    for (int v = 0; v < 4; ++v) {
      if (8 * v >= nr) continue;
      store_c_lanes(p, acc[r][v], p.C + (i0 + r) * p.ldc + j + 8 * v,
                    p.extras.bias ? p.extras.bias + j + 8 * v : nullptr, mask[v], nr == 2 * NR);
    }
}

// A last tile of at most 3 rows (Winograd's batch-1 products on 11x11
// outputs have 9: 6 + 3) takes wide_tile_rows, where the 6x16 tile would
// compute twice the rows it stores. Returns the rows left to the main tile.
int64_t last_rows(const Problem& p, int64_t row_step, int64_t k_step) {
  const int64_t rest = p.M % MR;
  if (rest == 0 || rest > 3) return p.M;
  for (int64_t j = 0; j < p.N; j += 2 * NR)
    wide_tile_rows(p, p.M - rest, static_cast<int>(rest), j, row_step, k_step);
  return p.M - rest;
}


}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads, const GemmExtras* extras) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // no product: the reference handles C = beta * C + extras
    ref::sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1, extras);
    return;
  }
  const Problem p = problem(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, extras);
  if (streams_b(p)) {
    streamed(p, threads);
    return;
  }
  blocked(p, threads);
}

int64_t sgemm_packed_b_size(int64_t K, int64_t N) { return K * panels_of(N) * NR; }

void sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  pack_all_of_b(trans_b, K, N, B, ldb, dst);
}

}  // namespace pyconv::kernels::avx2

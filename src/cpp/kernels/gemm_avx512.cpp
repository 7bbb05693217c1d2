// Packed SGEMM for AVX-512 (F), compiled with the avx512 flags (this file
// only): the AVX2 GEMM's blocked scheme (kernels/gemm_driver_impl.h) with a
// 6x32 register tile, two zmm per row, so each FMA does twice the work. On a
// CPU with two 512-bit FMA units that doubles the multiply's peak; on one
// that splits them in halves (AMD Zen 4) it changes little. Few rows of C
// stream B with 16-float vectors (kernels/gemm_streamed_impl.h); narrow
// products take the AVX2 kernel.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/scratch.h"

namespace pyconv::kernels::avx512 {

#include "kernels/avx2_lanes.h"
#include "kernels/avx512_tile.h"

namespace {


constexpr int64_t KC = 288;   // most depth per block (3x3x32 in one): a B panel (36 KB) in L1
constexpr int64_t MC = 120;   // rows of one packed A block (120 KB): stays in L2
constexpr int64_t NC = 2048;  // columns of one packed B block (2 MB): stays in L3


#include "kernels/gemm_pack_a_impl.h"
#include "kernels/gemm_pack_impl.h"
#include "kernels/gemm_driver_impl.h"

// The streamed kernel's vectors: 16 floats, a whole one loaded where AVX2
// loads two. A batch-1 dense layer is bound by reading its weights: over
// LeNet-5's Dense(400 -> 120), 192 KB from L2, a plain loop of 8-float
// loads and FMAs took 2.8 us on Zen 4, one of 16-float ones 1.75-1.9.
using Vec = __m512;
using Mask = __mmask16;
constexpr int64_t kLanes = 16;
inline Mask mask_first(int64_t n) { return lanes16(n); }
inline Vec vzero() { return _mm512_setzero_ps(); }
inline Vec vset1(float a) { return _mm512_set1_ps(a); }
inline Vec vload(const float* p) { return _mm512_loadu_ps(p); }
inline Vec vload(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
inline void vstore(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline void vstore(float* p, Mask m, Vec v) { _mm512_mask_storeu_ps(p, m, v); }
inline Vec vfmadd(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
inline Vec vmul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
inline Vec vadd(Vec a, Vec b) { return _mm512_add_ps(a, b); }
// (masked: GCC 12 warns about _mm512_max_ps's undefined source)
inline Vec vmax(Vec a, Vec b) { return _mm512_mask_max_ps(a, 0xFFFF, a, b); }

#include "kernels/gemm_streamed_impl.h"

// The unpacked product's rows are all the main tile's here.
int64_t last_rows(const Problem& p, int64_t, int64_t) { return p.M; }

// At most 16 columns: the AVX2 kernel's 16-wide tile fits them with less
// waste (a 12-filter layer would fill 12 of this tile's 32 lanes), so it
// takes the product, B packed its way.
bool narrow(int64_t N) { return N <= NR / 2; }

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads, const GemmExtras* extras) {
  if (M <= 0 || N <= 0) return;
  const Problem p = problem(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, extras);
  if (K > 0 && streams_b(p)) {  // B read as given, packed or not
    streamed(p, threads);
    return;
  }
  if (K <= 0 || narrow(N)) {
    // The AVX2 kernel: no product, or a narrow product. It reads B as given,
    // unless B came packed for it (narrow products are packed by the AVX2
    // kernel's packing, see below), not for this kernel's panels.
    GemmExtras own = p.extras;
    if (!narrow(N)) own.packed_b = nullptr;
    avx2::sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, threads, &own);
    return;
  }
  blocked(p, threads);
}

int64_t sgemm_packed_b_size(int64_t K, int64_t N) {
  return narrow(N) ? avx2::sgemm_packed_b_size(K, N) : K * panels_of(N) * NR;
}

void sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  if (narrow(N))
    avx2::sgemm_pack_b(trans_b, K, N, B, ldb, dst);
  else
    pack_all_of_b(trans_b, K, N, B, ldb, dst);
}

}  // namespace pyconv::kernels::avx512

// The AVX-512 6x32 register tile, shared by the packed GEMM and the kernel
// gradient of the planar convolution: tile sizes, the micro-kernel and the
// tile store with its epilogue. Included inside pyconv::kernels::avx512 by
// files compiled with the avx512 flags, after kernels/avx2_lanes.h;
// everything is in an anonymous namespace, so each file has its own copy and
// no AVX-512 symbol is visible outside it. The including file provides
// <immintrin.h>.

namespace {

constexpr int MR = 6;   // rows of C per micro-tile
constexpr int NR = 32;  // columns of C per micro-tile (two zmm registers)
using TileRegs = __m512[MR][2];

// acc[MR x NR] = sum over k of A(r, k) * B(k, c), where A(r, k) = rows[r][k * ks]
// and B(k, c) = b[k * ldb + c]. Packed panels are rows = a + r, ks = MR,
// ldb = NR; an operand small enough to stay in cache is read where it lies.
// kMasked: B has fewer than NR columns (lanes m0, m1), and no others are read.
// Named accumulators, so that they stay in registers. The depth may come in
// `segments` runs of kc steps, run s reading A from rows[r] + s * a_step and
// B from b + s * b_step (one image row per run).
template <bool kMasked>
inline void micro_kernel_rows(int64_t kc, const float* const rows[MR], int64_t ks,
                              const float* b_base, int64_t ldb, __mmask16 m0, __mmask16 m1,
                              TileRegs acc, int64_t segments = 1, int64_t a_step = 0,
                              int64_t b_step = 0) {
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
         c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3], *a4 = rows[4],
              *a5 = rows[5];
  for (int64_t s = 0; s < segments; ++s) {
    const float* b = b_base + s * b_step;
    for (int64_t k = 0, o = s * a_step; k < kc; ++k, o += ks, b += ldb) {
      const __m512 b0 = kMasked ? _mm512_maskz_loadu_ps(m0, b) : _mm512_loadu_ps(b);
      const __m512 b1 = kMasked ? _mm512_maskz_loadu_ps(m1, b + 16) : _mm512_loadu_ps(b + 16);
      __m512 ar = _mm512_set1_ps(a0[o]);
      c00 = _mm512_fmadd_ps(ar, b0, c00);
      c01 = _mm512_fmadd_ps(ar, b1, c01);
      ar = _mm512_set1_ps(a1[o]);
      c10 = _mm512_fmadd_ps(ar, b0, c10);
      c11 = _mm512_fmadd_ps(ar, b1, c11);
      ar = _mm512_set1_ps(a2[o]);
      c20 = _mm512_fmadd_ps(ar, b0, c20);
      c21 = _mm512_fmadd_ps(ar, b1, c21);
      ar = _mm512_set1_ps(a3[o]);
      c30 = _mm512_fmadd_ps(ar, b0, c30);
      c31 = _mm512_fmadd_ps(ar, b1, c31);
      ar = _mm512_set1_ps(a4[o]);
      c40 = _mm512_fmadd_ps(ar, b0, c40);
      c41 = _mm512_fmadd_ps(ar, b1, c41);
      ar = _mm512_set1_ps(a5[o]);
      c50 = _mm512_fmadd_ps(ar, b0, c50);
      c51 = _mm512_fmadd_ps(ar, b1, c51);
    }
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[1][0] = c10, acc[1][1] = c11;
  acc[2][0] = c20, acc[2][1] = c21, acc[3][0] = c30, acc[3][1] = c31;
  acc[4][0] = c40, acc[4][1] = c41, acc[5][0] = c50, acc[5][1] = c51;
}

// One packed A panel (MR values per k) times one packed B panel (NR per k).
inline void micro_kernel(int64_t kc, const float* a, const float* b, TileRegs acc) {
  const float* const rows[MR] = {a, a + 1, a + 2, a + 3, a + 4, a + 5};
  micro_kernel_rows<false>(kc, rows, MR, b, NR, 0, 0, acc);
}

// The unpacked path's tile: B's first nr <= NR columns read where they lie.
inline void tile_rows(int64_t K, const float* const rows[MR], int64_t ks, const float* b, int64_t ldb,
               int nr, TileRegs acc) {
  if (nr == NR)
    micro_kernel_rows<false>(K, rows, ks, b, ldb, 0, 0, acc);
  else
    micro_kernel_rows<true>(K, rows, ks, b, ldb, lanes16(nr), lanes16(nr - 16), acc);
}

// What the final store adds: the bias of this tile's columns, and ReLU.
struct Epilogue {
  const float* bias;  // null: none
  bool relu;
};

// C tile (mr x nr) = alpha * acc + beta * C (+ epilogue); beta == 0: C is
// not read. Partial tiles store through lane masks.
inline void store_tile(TileRegs acc, float* C, int64_t ldc, int mr, int nr, float alpha,
                       float beta, Epilogue ep) {
  const __mmask16 m0 = lanes16(nr), m1 = lanes16(nr - 16);
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta), zero = _mm512_setzero_ps();
  const __m512 bias0 = ep.bias ? _mm512_maskz_loadu_ps(m0, ep.bias) : zero;
  const __m512 bias1 = ep.bias ? _mm512_maskz_loadu_ps(m1, ep.bias + 16) : zero;
  for (int r = 0; r < mr; ++r) {
    float* c = C + r * ldc;
    __m512 c0 = _mm512_fmadd_ps(va, acc[r][0], bias0);
    __m512 c1 = _mm512_fmadd_ps(va, acc[r][1], bias1);
    if (beta != 0.f) {
      c0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), c0);
      c1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), c1);
    }
    if (ep.relu) {  // (the masked max: GCC 12 warns about _mm512_max_ps's undefined source)
      c0 = _mm512_mask_max_ps(c0, m0, c0, zero);
      c1 = _mm512_mask_max_ps(c1, m1, c1, zero);
    }
    _mm512_mask_storeu_ps(c, m0, c0);
    _mm512_mask_storeu_ps(c + 16, m1, c1);
  }
}

}  // namespace

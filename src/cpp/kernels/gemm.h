// Matrix multiply on raw row-major pointers. Kernels trust their arguments:
// every shape is checked by the op that calls them.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

// Optional parts of a GEMM call.
struct GemmExtras {
  // Produces op(A) instead of reading A: writes rows [i0, i0 + mc) and depth
  // [p0, p0 + kc) as panels of `mr` rows, k-major with the rows interleaved
  // (dst[(panel * kc + k) * mr + r]), zero-filling rows past mc. Lets a
  // convolution build its columns straight into the packed layout.
  void (*pack_a)(const void* ctx, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                 float* dst) = nullptr;
  const void* pack_a_ctx = nullptr;
  // Likewise for op(B): writes depth [p0, p0 + kc) of columns [j, j + nr) as
  // one panel `width` columns wide (dst[k * width + c]), zero past nr.
  void (*pack_b)(const void* ctx, int64_t p0, int64_t kc, int64_t j, int64_t nr, int width,
                 float* dst) = nullptr;
  const void* pack_b_ctx = nullptr;
  // op(B) as this kernel table's sgemm_pack_b packed it (same K, N and
  // trans_b): a kernel may read it instead of B, which must still be given.
  const float* packed_b = nullptr;
  const float* bias = nullptr;  // added to every row of C (N values) in the final pass
  bool relu = false;            // C = max(C, 0) in the final pass
  // Called once for every element of C after bias and ReLU, block by block
  // (rows x cols from c, rows ldc apart), by the thread that stored the
  // block, while it is in cache: an element-wise activation, for one.
  void (*finish)(const void* ctx, float* c, int64_t ldc, int64_t rows, int64_t cols) = nullptr;
  const void* finish_ctx = nullptr;
};

// extras.finish on rows [i0, i0 + rows) and columns [j0, j1) of C, if any.
inline void finish_block(const GemmExtras& x, float* C, int64_t ldc, int64_t i0, int64_t rows,
                         int64_t j0, int64_t j1) {
  if (x.finish && rows > 0 && j1 > j0) x.finish(x.finish_ctx, C + i0 * ldc + j0, ldc, rows, j1 - j0);
}

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C (+ extras), where
// op(A) = A^T when trans_a (A stored K x M) and op(B) = B^T when trans_b
// (B stored N x K). beta == 0 overwrites C without reading it. `threads` may
// be used inside. `extras` may be null.
using SgemmFn = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                         float* C, int64_t ldc, int threads, const GemmExtras* extras);

// A constant op(B) (weights) packed once for many calls (GemmExtras::
// packed_b): sgemm_packed_b_size is the packed size in floats (0: this
// kernel reads B as it is), sgemm_pack_b writes it.
#define PCV_SGEMM_DECL                                                                        \
  void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,        \
             const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,  \
             int64_t ldc, int threads, const GemmExtras* extras);                             \
  int64_t sgemm_packed_b_size(int64_t K, int64_t N);                                          \
  void sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst);
namespace ref {
PCV_SGEMM_DECL
}
namespace avx2 {
PCV_SGEMM_DECL
}
namespace avx512 {
PCV_SGEMM_DECL
}
namespace neon {
PCV_SGEMM_DECL
}
#undef PCV_SGEMM_DECL

// The selected ISA's sgemm (see dispatch.h).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads, const GemmExtras* extras = nullptr);

}  // namespace pyconv::kernels

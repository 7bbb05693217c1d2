// Matrix multiply on raw row-major pointers. Kernels trust their arguments:
// every shape is checked by the op that calls them.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

// C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C, where op(A) = A^T when
// trans_a (A stored K x M) and op(B) = B^T when trans_b (B stored N x K).
// beta == 0 overwrites C without reading it. `threads` may be used inside.
using SgemmFn = void (*)(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                         const float* A, int64_t lda, const float* B, int64_t ldb, float beta,
                         float* C, int64_t ldc, int threads);

namespace ref {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads);
}
namespace avx2 {
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads);
}

// The selected ISA's sgemm (see dispatch.h).
void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads);

}  // namespace pyconv::kernels

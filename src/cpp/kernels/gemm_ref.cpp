// Plain GEMM: row of C at a time, inner loops contiguous so the compiler can
// vectorise them. The oracle for the optimised kernels.
#include <algorithm>

#include "kernels/gemm.h"

namespace pyconv::kernels::ref {

namespace {

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

void gemm_row(bool trans_a, bool trans_b, int64_t i, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* c) {
  if (beta == 0.f)
    std::fill(c, c + N, 0.f);
  else if (beta != 1.f)
    for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  if (!trans_b) {
    for (int64_t k = 0; k < K; ++k) {
      const float a = alpha * (trans_a ? A[k * lda + i] : A[i * lda + k]);
      if (a == 0.f) continue;
      const float* b = B + k * ldb;
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) c[j] += a * b[j];
    }
    return;
  }
  if (!trans_a) {
    for (int64_t j = 0; j < N; ++j) c[j] += alpha * dot(A + i * lda, B + j * ldb, K);
    return;
  }
  for (int64_t j = 0; j < N; ++j) {
    float s = 0.f;
    for (int64_t k = 0; k < K; ++k) s += A[k * lda + i] * B[j * ldb + k];
    c[j] += alpha * s;
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads) {
  [[maybe_unused]] const bool parallel = threads > 1 && M > 1 && M * N * K > 32768;
#pragma omp parallel for num_threads(threads) schedule(static) if (parallel)
  for (int64_t i = 0; i < M; ++i)
    gemm_row(trans_a, trans_b, i, N, K, alpha, A, lda, B, ldb, beta, C + i * ldc);
}

}  // namespace pyconv::kernels::ref

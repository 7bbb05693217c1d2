// Plain GEMM: one row of C at a time, inner loops contiguous so the compiler
// can vectorise them. The oracle for the optimised kernels: it implements
// every GemmExtras feature in the most direct way.
#include <algorithm>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::ref {

namespace {

float dot(const float* a, const float* b, int64_t n) {
  float s = 0.f;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// Row i of C; `a` is row i of op(A) when it is contiguous (else null).
void gemm_row(bool trans_a, bool trans_b, int64_t i, int64_t N, int64_t K, float alpha,
              const float* A, int64_t lda, const float* a, const float* B, int64_t ldb,
              float beta, float* c) {
  if (beta == 0.f)
    std::fill(c, c + N, 0.f);
  else if (beta != 1.f)
    for (int64_t j = 0; j < N; ++j) c[j] *= beta;
  auto a_at = [&](int64_t k) { return a ? a[k] : trans_a ? A[k * lda + i] : A[i * lda + k]; };
  if (!trans_b) {
    for (int64_t k = 0; k < K; ++k) {
      const float s = alpha * a_at(k);
      if (s == 0.f) continue;
      const float* b = B + k * ldb;
#pragma omp simd
      for (int64_t j = 0; j < N; ++j) c[j] += s * b[j];
    }
    return;
  }
  if (a) {
    for (int64_t j = 0; j < N; ++j) c[j] += alpha * dot(a, B + j * ldb, K);
    return;
  }
  for (int64_t j = 0; j < N; ++j) {
    float s = 0.f;
    for (int64_t k = 0; k < K; ++k) s += a_at(k) * B[j * ldb + k];
    c[j] += alpha * s;
  }
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads, const GemmExtras* extras) {
  const GemmExtras none;
  const GemmExtras& x = extras ? *extras : none;
  // Scratch kept per thread, so that a warm call allocates nothing (the
  // native runtime promises that, and runs these kernels where no optimised
  // ones exist).
  thread_local std::vector<float> packed_b;  // op(B) from the packer, row-major K x N
  if (x.pack_b) {
    packed_b.resize(static_cast<size_t>(K * N));
    x.pack_b(x.pack_b_ctx, 0, K, 0, N, static_cast<int>(N), packed_b.data());
    B = packed_b.data(), ldb = N, trans_b = false;
  }
  const bool parallel = threads > 1 && M > 1 && M * N * K > 32768;
  parallel_for(parallel ? threads : 1, M, [&](int64_t i) {
    thread_local std::vector<float> row;  // op(A)'s row from the packer: a panel of one row
    const float* a = nullptr;
    if (x.pack_a) {
      row.resize(static_cast<size_t>(K));
      x.pack_a(x.pack_a_ctx, i, 1, 0, K, 1, row.data());
      a = row.data();
    } else if (!trans_a) {
      a = A + i * lda;
    }
    float* c = C + i * ldc;
    gemm_row(trans_a, trans_b, i, N, K, alpha, A, lda, a, B, ldb, beta, c);
    if (x.bias)
      for (int64_t j = 0; j < N; ++j) c[j] += x.bias[j];
    if (x.relu)
      for (int64_t j = 0; j < N; ++j) c[j] = std::max(c[j], 0.f);
    finish_block(x, C, ldc, i, 1, 0, N);
  });
}

// The oracle reads B as it is: nothing to pack.
int64_t sgemm_packed_b_size(int64_t, int64_t) { return 0; }
void sgemm_pack_b(bool, int64_t, int64_t, const float*, int64_t, float*) {}

}  // namespace pyconv::kernels::ref

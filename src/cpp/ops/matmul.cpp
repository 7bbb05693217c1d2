#include "ops/matmul.h"

#include "core/error.h"
#include "kernels/dispatch.h"

namespace pyconv::ops {

Shape matmul_shape(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  if (a.ndim() != 2 || b.ndim() != 2)
    throw ShapeError(cat("matmul: expected 2-D matrices, received ", shape_str(a.shape()),
                         " and ", shape_str(b.shape())));
  const int64_t M = trans_a ? a.dim(1) : a.dim(0), K = trans_a ? a.dim(0) : a.dim(1);
  const int64_t Kb = trans_b ? b.dim(1) : b.dim(0), N = trans_b ? b.dim(0) : b.dim(1);
  if (K != Kb)
    throw ShapeError(cat("matmul: inner dimensions differ: op(a) is (", M, ", ", K,
                         ") and op(b) is (", Kb, ", ", N, ")"));
  return {M, N};
}

void matmul(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, float alpha,
            float beta, int threads, bool prepack_b) {
  const Shape mn = matmul_shape(a, b, trans_a, trans_b);
  const int64_t M = mn[0], N = mn[1], K = trans_a ? a.dim(0) : a.dim(1);
  if (beta != 0.f && c.shape() != Shape{M, N})
    throw ShapeError(cat("matmul: expected c of shape (", M, ", ", N, "), received ",
                         shape_str(c.shape())));
  if (beta == 0.f && c.shape() != Shape{M, N}) c.resize({M, N});
  const kernels::KernelTable& kt = kernels::active();
  kernels::GemmExtras ex;
  Tensor packed;
  if (const int64_t size = kt.sgemm_packed_b_size(K, N); prepack_b && size > 0) {
    packed.resize({size});
    kt.sgemm_pack_b(trans_b, K, N, b.data(), b.dim(1), packed.data());
    ex.packed_b = packed.data();
  }
  kt.sgemm(trans_a, trans_b, M, N, K, alpha, a.data(), a.dim(1), b.data(), b.dim(1), beta,
           c.data(), N, threads, &ex);
}

}  // namespace pyconv::ops

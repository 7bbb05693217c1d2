#include "ops/dense.h"

#include "kernels/gemm.h"
#include "ops/reduce.h"

namespace pyconv::ops {

void dense_forward(const Tensor& x, const Tensor& kernel, const Tensor* bias, Activation act,
                   Tensor& y, int threads) {
  const int64_t N = x.dim(0), I = kernel.dim(0), U = kernel.dim(1);
  kernels::GemmExtras ex;  // bias and ReLU ride along with the GEMM's stores
  ex.bias = bias ? bias->data() : nullptr;
  ex.relu = act == Activation::Relu;
  kernels::sgemm(false, false, N, U, I, 1.f, x.data(), I, kernel.data(), U, 0.f, y.data(), U,
                 threads, &ex);
  if (act != Activation::Relu) activation_forward(act, y.data(), N, U, threads);
}

void dense_backward(const Tensor& x, const Tensor& kernel, const Tensor& dy, Tensor* dx,
                    Tensor& dkernel, Tensor* dbias, int threads) {
  const int64_t N = x.dim(0), I = kernel.dim(0), U = kernel.dim(1);
  kernels::sgemm(true, false, I, U, N, 1.f, x.data(), I, dy.data(), U, 0.f, dkernel.data(), U,
                 threads);
  if (dx)
    kernels::sgemm(false, true, N, I, U, 1.f, dy.data(), U, kernel.data(), U, 0.f, dx->data(), I,
                   threads);
  if (dbias) column_sums(dy.data(), N, U, dbias->data(), threads);
}

}  // namespace pyconv::ops

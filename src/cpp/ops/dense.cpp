#include "ops/dense.h"

#include "kernels/dispatch.h"
#include "ops/reduce.h"

namespace pyconv::ops {

namespace {

// The kernel packed as the active table's GEMM reads it, or null where it
// reads the kernel as it is (or there is no cache).
std::shared_ptr<const Tensor> packed_kernel(const Tensor& kernel, WeightCache* cache,
                                            uint64_t version) {
  const kernels::KernelTable& kt = kernels::active();
  const int64_t I = kernel.dim(0), U = kernel.dim(1), size = kt.sgemm_packed_b_size(I, U);
  if (!cache || size == 0) return nullptr;
  return cache->get(version, kt.isa, [&](Tensor& packed) {  // the layout is the table's
    packed.resize({size});
    kt.sgemm_pack_b(false, I, U, kernel.data(), U, packed.data());
  });
}

}  // namespace

void dense_prepare(const Tensor& kernel, WeightCache& cache, uint64_t kernel_version) {
  packed_kernel(kernel, &cache, kernel_version);
}

void dense_forward(const Tensor& x, const Tensor& kernel, const Tensor* bias, Activation act,
                   Tensor& y, int threads, WeightCache* cache, uint64_t kernel_version) {
  const int64_t N = x.dim(0), I = kernel.dim(0), U = kernel.dim(1);
  const kernels::KernelTable& kt = kernels::active();
  // Held until the GEMM is done, even if the weights change meanwhile.
  const std::shared_ptr<const Tensor> packed = packed_kernel(kernel, cache, kernel_version);
  kernels::GemmExtras ex;  // bias and the activation ride along with the GEMM's stores
  ex.packed_b = packed ? packed->data() : nullptr;
  ex.bias = bias ? bias->data() : nullptr;
  const bool fused = fuse_into_gemm(act, ex);
  kt.sgemm(false, false, N, U, I, 1.f, x.data(), I, kernel.data(), U, 0.f, y.data(), U, threads,
           &ex);
  if (!fused) activation_forward(act, y.data(), N, U, threads);
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

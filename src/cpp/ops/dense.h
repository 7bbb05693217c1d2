// Fully connected layer: y[N, U] = act(x[N, I] kernel[I, U] + bias[U]).
#pragma once
#include "core/tensor.h"
#include "ops/activation.h"
#include "ops/weight_cache.h"

namespace pyconv::ops {

// cache (may be null) keeps the kernel packed for the GEMM across calls,
// keyed by kernel_version.
void dense_forward(const Tensor& x, const Tensor& kernel, const Tensor* bias, Activation act,
                   Tensor& y, int threads, WeightCache* cache = nullptr,
                   uint64_t kernel_version = 0);
// Builds what dense_forward would keep in cache (at model load).
void dense_prepare(const Tensor& kernel, WeightCache& cache, uint64_t kernel_version);
// Gradients of sum(y * dy); dx and dbias may be null.
void dense_backward(const Tensor& x, const Tensor& kernel, const Tensor& dy, Tensor* dx,
                    Tensor& dkernel, Tensor* dbias, int threads);

}  // namespace pyconv::ops

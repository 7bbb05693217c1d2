// Convolution by Winograd F(4x4, 3x3): for 3x3, stride-1 (dilated or not),
// ungrouped convolutions with enough channels for its 36 GEMMs to be worth it.
#pragma once
#include "core/tensor.h"
#include "kernels/conv.h"

namespace pyconv::ops {

bool winograd_applies(const kernels::ConvGeometry& g);

// The transformed kernel (36 x C x F), for winograd_forward.
void winograd_transform_kernel(const kernels::ConvGeometry& g, const float* kernel, Tensor& u);

// y = conv(x) + bias (may be null), then ReLU if relu, for N NHWC samples.
// u is the kernel's transform, or null: transformed here, every call.
void winograd_forward(const kernels::ConvGeometry& g, int64_t N, const float* x,
                      const float* kernel, const Tensor* u, const float* bias, bool relu,
                      float* y, int threads);

// dkernel = the kernel gradient of sum(y * dy) for N NHWC samples, with the
// same tiles and input transform as the forward pass.
void winograd_backward_filter(const kernels::ConvGeometry& g, int64_t N, const float* x,
                              const float* dy, float* dkernel, int threads);
// Its first part, for a gradient summed over several calls: adds N
// samples' share to `sums` (kWinogradPoints x F x C, the gradient before its
// inverse transform, kernels::winograd_kernel_grad, which the caller runs
// once at the end).
void winograd_add_filter_grad(const kernels::ConvGeometry& g, int64_t N, const float* x,
                              const float* dy, float* sums, int threads);

}  // namespace pyconv::ops

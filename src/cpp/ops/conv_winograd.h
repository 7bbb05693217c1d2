// Convolution by Winograd F(4x4, 3x3): for 3x3, stride-1 (dilated or not),
// ungrouped convolutions with enough channels for its 36 GEMMs to be worth it.
#pragma once
#include <memory>
#include <mutex>

#include "core/tensor.h"
#include "kernels/conv.h"

namespace pyconv::ops {

bool winograd_applies(const kernels::ConvGeometry& g);

// The transformed kernel, kept across calls while the kernel's version (see
// Param::version) stays the same: inference transforms it once. It belongs
// to the model and is shared by every thread that runs it: a caller holds
// the transform it got until it is done, even if the weights change meanwhile.
class WinogradKernelCache {
 public:
  std::shared_ptr<const Tensor> get(const kernels::ConvGeometry& g, const float* kernel,
                                    uint64_t version);

 private:
  std::mutex mutex_;
  std::shared_ptr<Tensor> u_;
  uint64_t version_ = ~uint64_t{0};
};

// y = conv(x) + bias (may be null), then ReLU if relu, for N NHWC samples.
// cache may be null (transform the kernel every call).
void winograd_forward(const kernels::ConvGeometry& g, int64_t N, const float* x,
                      const float* kernel, const float* bias, bool relu, float* y, int threads,
                      WinogradKernelCache* cache = nullptr, uint64_t kernel_version = 0);

// dkernel = the kernel gradient of sum(y * dy) for N NHWC samples, with the
// same tiles and input transform as the forward pass.
void winograd_backward_filter(const kernels::ConvGeometry& g, int64_t N, const float* x,
                              const float* dy, float* dkernel, int threads);

}  // namespace pyconv::ops

// 2-D max and average pooling on NHWC tensors: argument checks, shapes,
// forward and backward.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/pool.h"
#include "ops/padding.h"

namespace pyconv::ops {

struct Pool2DArgs {
  int64_t kh = 2, kw = 2;
  int64_t sh = 2, sw = 2;
  PadMode padding = PadMode::Valid;  // Valid or Same
};

// Checks the arguments against the per-sample input (H, W, C); N is left 0.
kernels::PoolGeometry pool2d_geometry(const Shape& input, const Pool2DArgs& a,
                                      const std::string& who);

// argmax, when not null, is resized to y's element count and filled for the
// backward pass.
void maxpool2d_forward(kernels::PoolGeometry g, const Tensor& x, Tensor& y,
                       std::vector<int32_t>* argmax, int threads);
void maxpool2d_backward(kernels::PoolGeometry g, const Tensor& dy,
                        const std::vector<int32_t>& argmax, Tensor& dx, int threads);
void avgpool2d_forward(kernels::PoolGeometry g, const Tensor& x, Tensor& y, int threads);
void avgpool2d_backward(kernels::PoolGeometry g, const Tensor& dy, Tensor& dx, int threads);
// One sample's max (or average) pooling in raw memory, on the calling thread
// (a band of its rows: a cropped geometry, core/row_bands.h).
void pool2d_forward_sample(kernels::PoolGeometry g, bool max, const float* x, float* y);

}  // namespace pyconv::ops

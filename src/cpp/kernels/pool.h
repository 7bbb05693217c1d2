// 2-D pooling on NHWC batches. Kernels trust their arguments.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

struct PoolGeometry {
  int64_t N, H, W, C;
  int64_t OH, OW;
  int64_t KH, KW, SH, SW;
  int64_t PT, PL;  // padding before; padded positions never win or count
};

// y = window max; argmax[i] = flat index within the sample's (H, W, C) input.
void maxpool2d_f32(const PoolGeometry& g, const float* x, float* y, int32_t* argmax,
                   int threads);
// dx = 0, then dx[argmax[i]] += dy[i].
void maxpool2d_backward_f32(const PoolGeometry& g, const float* dy, const int32_t* argmax,
                            float* dx, int threads);
// y = mean over the in-bounds part of each window.
void avgpool2d_f32(const PoolGeometry& g, const float* x, float* y, int threads);
void avgpool2d_backward_f32(const PoolGeometry& g, const float* dy, float* dx, int threads);

}  // namespace pyconv::kernels

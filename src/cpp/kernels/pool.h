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

// One set per ISA:
//  maxpool2d_f32:          y = window max; argmax[i] = the flat index of the
//                          winner within its sample's (H, W, C) input
//                          (argmax may be null: not wanted)
//  maxpool2d_backward_f32: dx = 0, then dx[argmax[i]] += dy[i]
//  avgpool2d_f32:          y = mean over the in-bounds part of each window
//  avgpool2d_backward_f32: its adjoint
#define PCV_POOL_DECLS                                                                       \
  void maxpool2d_f32(const PoolGeometry& g, const float* x, float* y, int32_t* argmax,      \
                     int threads);                                                           \
  void maxpool2d_backward_f32(const PoolGeometry& g, const float* dy, const int32_t* argmax, \
                              float* dx, int threads);                                       \
  void avgpool2d_f32(const PoolGeometry& g, const float* x, float* y, int threads);         \
  void avgpool2d_backward_f32(const PoolGeometry& g, const float* dy, float* dx, int threads);

namespace ref {
PCV_POOL_DECLS
}
namespace avx2 {
PCV_POOL_DECLS
}
namespace avx512 {
PCV_POOL_DECLS
}
#undef PCV_POOL_DECLS

}  // namespace pyconv::kernels

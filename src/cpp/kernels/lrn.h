// Local response normalization across channels (AlexNet's, with TensorFlow's
// definition) on rows of C channels, one set per ISA. The layer
// (graph/layers/normalization.cpp) splits the rows among threads.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

struct LrnParams {
  int64_t radius;  // channels on each side in the window
  float bias, alpha, beta;
};

// lrn_forward_f32:  base_c = bias + alpha * sum of x_j^2 over |j - c| <= radius,
//                   scale_c = base_c^-beta, y = x * scale; base and scale are
//                   stored where non-null (what backward needs)
// lrn_backward_f32: dx_j = dy_j scale_j - 2 alpha beta x_j sum over |c - j| <=
//                   radius of dy_c x_c scale_c / base_c
#define PCV_LRN_DECLS                                                                         \
  void lrn_forward_f32(const LrnParams& p, const float* x, float* y, float* base, float* scale, \
                       int64_t rows, int64_t C);                                              \
  void lrn_backward_f32(const LrnParams& p, const float* x, const float* dy, const float* base, \
                        const float* scale, float* dx, int64_t rows, int64_t C);

namespace ref {
PCV_LRN_DECLS
}
namespace avx2 {
PCV_LRN_DECLS
}
#undef PCV_LRN_DECLS

}  // namespace pyconv::kernels

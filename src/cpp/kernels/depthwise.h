// Direct depthwise convolution on one NHWC sample (groups == C, F = C * m
// with channel multiplier m; output channel f reads input channel f / m).
// GEMM is a poor fit here (one input channel per group), so these loop over
// the kernel taps with the channels innermost, where they vectorise.
#pragma once
#include "kernels/conv.h"

namespace pyconv::kernels {

#define PCV_DEPTHWISE_DECLS                                                                  \
  /* y = conv(x) (+ bias when non-null) */                                                   \
  void depthwise_forward(const ConvGeometry& g, const float* x, const float* w,             \
                         const float* bias, float* y);                                       \
  /* dx = the input gradient (overwritten) */                                                \
  void depthwise_backward_data(const ConvGeometry& g, const float* dy, const float* w,       \
                               float* dx);                                                   \
  /* dw += the kernel gradient of this sample */                                             \
  void depthwise_backward_filter(const ConvGeometry& g, const float* x, const float* dy,     \
                                 float* dw);

namespace ref {
PCV_DEPTHWISE_DECLS
}
namespace avx2 {
PCV_DEPTHWISE_DECLS
}
namespace neon {
PCV_DEPTHWISE_DECLS
}
#undef PCV_DEPTHWISE_DECLS

}  // namespace pyconv::kernels

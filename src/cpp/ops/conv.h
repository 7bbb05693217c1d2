// 2-D convolution (cross-correlation, as in every framework) on NHWC tensors
// with a (KH, KW, C/groups, F) kernel: argument checks, shapes, forward and
// backward, and the choice of kernel (see ConvPath in conv.cpp).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "kernels/conv.h"
#include "ops/activation.h"
#include "ops/conv_winograd.h"
#include "ops/padding.h"
#include "ops/weight_cache.h"

namespace pyconv::ops {

struct Conv2DArgs {
  int64_t filters = 0;
  int64_t kh = 1, kw = 1;
  int64_t sh = 1, sw = 1;
  int64_t dh = 1, dw = 1;
  int64_t groups = 1;
  Padding2D padding;
};

// Checks the arguments (throws ValueError naming `who`).
void conv2d_check_args(const Conv2DArgs& a, const std::string& who);
// Checks them against the per-sample input shape (H, W, C) and plans the
// geometry (throws ShapeError naming `who`, expected and received shapes).
kernels::ConvGeometry conv2d_geometry(const Shape& input, const Conv2DArgs& a,
                                      const std::string& who);
inline Shape conv2d_kernel_shape(const kernels::ConvGeometry& g) {
  return {g.KH, g.KW, g.cin_group(), g.F};
}

// Scratch memory for the backward pass, kept between calls so a training step
// allocates nothing.
struct ConvWorkspace {
  Tensor col;                   // column rows of the strided input gradient
  std::vector<Tensor> dkernel;  // partial kernel gradients, one per chunk of samples
  Tensor flipped;               // the kernel rearranged for the input gradient
  size_t bytes() const;
};

// y[N, OH, OW, F] = act(conv(x[N, H, W, C], kernel) + bias); bias may be null.
// Bias and ReLU are applied inside the GEMM's output pass where possible.
// cache (may be null) keeps the kernel in the form the chosen kernel reads
// (packed panels, a Winograd transform) across calls, keyed by kernel_version.
void conv2d_forward(const kernels::ConvGeometry& g, const Tensor& x, const Tensor& kernel,
                    const Tensor* bias, Activation act, Tensor& y, int threads,
                    WeightCache* cache = nullptr, uint64_t kernel_version = 0);
// The same on N samples in raw memory (a band of one sample's rows: a
// cropped geometry, core/row_bands.h).
void conv2d_forward(const kernels::ConvGeometry& g, int64_t N, const float* x,
                    const Tensor& kernel, const Tensor* bias, Activation act, float* y,
                    int threads, WeightCache* cache = nullptr, uint64_t kernel_version = 0);
// Whether a convolution's output rows can be computed band by band, each
// band's values those of the whole: not Winograd's (its values depend on
// where a row falls in its tile), nor a 1x1 one that is, or whose crop
// would be, one GEMM over the pixels (its blocking depends on their count).
bool conv2d_keeps_rows(const kernels::ConvGeometry& g);
// Builds what conv2d_forward would keep in cache, so the first call after a
// model load is not slower than the next.
void conv2d_prepare(const kernels::ConvGeometry& g, const Tensor& kernel, WeightCache& cache,
                    uint64_t kernel_version);
// The input gradient's kernel for stride-1 convolutions (the kernel flipped
// in space, its channels swapped) in the form its convolution reads (a
// Winograd transform, packed panels), made once for callers that take the
// input gradient of a batch in many pieces (ops/conv_pool.h).
struct InputGradKernel {
  Tensor flipped;  // empty where the input gradient is not such a convolution
  std::shared_ptr<const Tensor> prepared;
  WeightCache cache;
  uint64_t version = 0;
};
void conv2d_prepare_input_grad(const kernels::ConvGeometry& g, const float* kernel,
                               InputGradKernel& k);
// dx = the gradient of sum(y * dy) with respect to x, for N samples (not for
// depthwise convolutions): also a transposed convolution's forward pass.
// `prepared` (may be null) is the kernel's conv2d_prepare_input_grad.
void conv2d_input_grad(const kernels::ConvGeometry& g, int64_t N, const float* dy,
                       const float* kernel, float* dx, ConvWorkspace& ws, int threads,
                       const InputGradKernel* prepared = nullptr);
// Gradients of sum(y * dy). dx and dbias may be null (not wanted).
void conv2d_backward(const kernels::ConvGeometry& g, const Tensor& x, const Tensor& kernel,
                     const Tensor& dy, Tensor* dx, Tensor& dkernel, Tensor* dbias,
                     ConvWorkspace& ws, int threads,
                     const InputGradKernel* prepared = nullptr);

}  // namespace pyconv::ops

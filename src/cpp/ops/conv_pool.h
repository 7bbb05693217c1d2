// A convolution and the max pooling that alone reads its output, run a few
// samples at a time (in training, and in inference): each chunk's convolution
// output, and its gradient in the backward pass, stay in the cache. Run
// apart, the step writes the full-size output, reads it back to pool it,
// writes its gradient and reads that twice more (the activation's derivative
// and the kernel's gradient): 11 MB each time for the first layer of the
// Keras MNIST example at batch 128, whose pooled output is a quarter of that.
#pragma once
#include <mutex>
#include <vector>

#include "core/tensor.h"
#include "kernels/pool.h"
#include "ops/conv.h"

namespace pyconv::ops {

struct ConvPoolWorkspace {
  // One per task running at once: a chunk's convolution output (forward) or
  // its gradient (backward), its kernel gradient, what the convolution's
  // backward keeps, and views of the chunk's input and input gradient (kept,
  // with a shape to build them in, so a warm call allocates nothing).
  struct Worker {
    Tensor out, dkernel, x, dx;
    Shape shape;
    ConvWorkspace conv;
  };
  std::vector<Worker> workers;
  std::vector<int> idle;  // workers no task holds
  std::mutex mutex;
  std::vector<int32_t> argmax;  // per pooled value: its winner's index within its sample
  std::vector<Tensor> dkernel;  // backward: per group of chunks, their kernel gradient
  WeightCache packed;  // the kernel as the forward reads it: prepared once per step
  InputGradKernel input_grad;  // the input gradient's: once per backward pass
  size_t bytes() const;
  void release();  // gives the buffers back (the cache stays)
};

// pooled = maxpool(act(conv(x, kernel) + bias)), keeping the winners in ws
// for the backward pass if keep_winners (inference need not). act must not
// need its input to differentiate (not gelu or swish) and must be
// element-wise (not softmax). cache: the kernel as the convolution reads it,
// for kernel_version (inference passes the layer's; training, ws.packed).
void conv2d_maxpool_forward(const kernels::ConvGeometry& g, kernels::PoolGeometry pool,
                            const Tensor& x, const Tensor& kernel, WeightCache& cache,
                            uint64_t kernel_version, const Tensor* bias, Activation act,
                            Tensor& pooled, bool keep_winners, ConvPoolWorkspace& ws,
                            int threads);

// Gradients of sum(pooled * dpooled) through the last forward: dkernel, and
// dx and dbias where not null. dpooled is used as scratch.
void conv2d_maxpool_backward(const kernels::ConvGeometry& g, kernels::PoolGeometry pool,
                             const Tensor& x, const Tensor& kernel, Activation act,
                             const Tensor& pooled, Tensor& dpooled, Tensor* dx, Tensor& dkernel,
                             Tensor* dbias, ConvPoolWorkspace& ws, int threads);

}  // namespace pyconv::ops

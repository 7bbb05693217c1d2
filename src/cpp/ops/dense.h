// Fully connected layer: y[N, U] = act(x[N, I] kernel[I, U] + bias[U]).
#pragma once
#include "core/tensor.h"
#include "ops/activation.h"

namespace pyconv::ops {

void dense_forward(const Tensor& x, const Tensor& kernel, const Tensor* bias, Activation act,
                   Tensor& y, int threads);
// Gradients of sum(y * dy); dx and dbias may be null.
void dense_backward(const Tensor& x, const Tensor& kernel, const Tensor& dy, Tensor* dx,
                    Tensor& dkernel, Tensor* dbias, int threads);

}  // namespace pyconv::ops

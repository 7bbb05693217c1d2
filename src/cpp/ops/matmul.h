// Matrix multiply on 2-D tensors with shape checks: the GEMM op.
#pragma once
#include "core/tensor.h"

namespace pyconv::ops {

// The shape of op(a) op(b), (M, N); throws ShapeError unless a and b are 2-D
// with matching inner dimensions.
Shape matmul_shape(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b);

// c = alpha * op(a) op(b) + beta * c. c must be (M, N) when beta != 0;
// otherwise it is resized. prepack_b: op(b) is first packed as a layer packs
// its weights for inference (tests the kernels' pre-packed path).
void matmul(const Tensor& a, const Tensor& b, Tensor& c, bool trans_a, bool trans_b, float alpha,
            float beta, int threads, bool prepack_b = false);

}  // namespace pyconv::ops

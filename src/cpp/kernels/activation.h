// Element-wise activation loops, one set per ISA. Softmax (row-wise) and the
// threading live in ops/activation.cpp, which splits the work into blocks.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

enum class Activation {
  Linear, Relu, Tanh, Sigmoid, Softmax,
  Elu, Selu, Softplus, Relu6, HardSigmoid, LeakyRelu, Gelu, Swish
};

// activation_forward_f32:  y[i] = act(x[i]) for i in [0, n) (y may be x)
// activation_forward_checked_f32: the same (y must not overlap x), and
//                          whether x holds a NaN or an infinity, tested in
//                          the same loop for the activations that cost
//                          less than a read (y is then unspecified)
// activation_backward_f32: dx[i] = dy[i] * act'(.) from the output y and, for
//                          gelu and swish, the input x (dx may be dy)
// Softmax is not element-wise and is refused by the callers before this.
// softmax_rows_f32:        each of `rows` rows of `cols` values: y = e^(x - max)
//                          / sum (y may be x)
#define PCV_ACTIVATION_DECLS                                                                \
  void activation_forward_f32(Activation a, const float* x, float* y, int64_t n);          \
  bool activation_forward_checked_f32(Activation a, const float* x, float* y, int64_t n);  \
  void softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t cols);             \
  void activation_backward_f32(Activation a, const float* y, const float* dy, float* dx,   \
                               const float* x, int64_t n);

namespace ref {
PCV_ACTIVATION_DECLS
}
namespace avx2 {
PCV_ACTIVATION_DECLS
}
namespace avx512 {
PCV_ACTIVATION_DECLS
}
#undef PCV_ACTIVATION_DECLS

}  // namespace pyconv::kernels

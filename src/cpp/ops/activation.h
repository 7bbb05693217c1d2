// Element-wise activations applied in place to a layer's output, and their
// backward passes. Most derivatives follow from the output alone; gelu and
// swish are not monotonic, so theirs need the pre-activation (needs_input).
#pragma once
#include <cstdint>
#include <string>

#include "kernels/activation.h"
#include "kernels/gemm.h"

namespace pyconv::ops {

using Activation = kernels::Activation;

// True where the backward pass needs the activation's input (gelu, swish).
bool needs_input(Activation a);

// Throws ValueError naming `who` for an unknown name.
Activation parse_activation(const std::string& name, const std::string& who);
const char* activation_name(Activation a);

// Has a GEMM apply `a` as it stores its output (ReLU in its stores, other
// element-wise activations on each block it finishes, while in cache).
// False for softmax, which needs whole rows: it takes a pass of its own.
bool fuse_into_gemm(Activation a, kernels::GemmExtras& ex);

// y = act(y) in place; softmax normalises each of `rows` rows of `cols`.
void activation_forward(Activation a, float* y, int64_t rows, int64_t cols, int threads);
// y = act(x): one pass where a copy and an in-place pass would take two.
// With non_finite_input, also sets it to whether x holds a NaN or an
// infinity, tested as x is read (the cheap activations in the same loop, the
// others a block at a time from cache): no pass of its own over memory. y
// is then unspecified.
void activation_forward(Activation a, const float* x, float* y, int64_t rows, int64_t cols,
                        int threads, bool* non_finite_input = nullptr);
// dy = dy * act'(.) in place, from the activated output y, and for an
// activation that needs_input() from its input x (else x may be null).
void activation_backward(Activation a, const float* y, float* dy, int64_t rows, int64_t cols,
                         int threads, const float* x = nullptr);
// dx = dy * act'(.) (dx may be dy).
void activation_backward(Activation a, const float* y, const float* dy, float* dx, int64_t rows,
                         int64_t cols, int threads, const float* x);

}  // namespace pyconv::ops

// Element-wise activations applied in place to a layer's output, and their
// backward passes, which need only that output (not the pre-activation).
#pragma once
#include <cstdint>
#include <string>

namespace pyconv::ops {

enum class Activation { Linear, Relu, Tanh, Sigmoid, Softmax };

// Throws ValueError naming `who` for an unknown name.
Activation parse_activation(const std::string& name, const std::string& who);
const char* activation_name(Activation a);

// y = act(y) in place; softmax normalises each of `rows` rows of `cols`.
void activation_forward(Activation a, float* y, int64_t rows, int64_t cols, int threads);
// dy = dy * act'(.) in place, computed from the activated output y.
void activation_backward(Activation a, const float* y, float* dy, int64_t rows, int64_t cols,
                         int threads);

}  // namespace pyconv::ops

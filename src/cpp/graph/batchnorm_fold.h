// BatchNormalization folded into the layer before it, for inference: a
// convolution or dense layer followed by a BatchNormalization over its output
// channels computes
//   gamma * (W x + b - mean) / sqrt(var + epsilon) + beta
// which is one layer with kernel W * s and bias (b - mean) * s + beta, where
// s = gamma / sqrt(var + epsilon) per output channel (what ONNX Runtime and
// TFLite do when they load a model). An Activation layer after the
// normalization moves into that layer's output stores too.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "graph/layer.h"

namespace pyconv {

// Whether `layer` can take a following BatchNormalization in: a Conv1D,
// Conv2D, DepthwiseConv2D, SeparableConv2D or Dense layer without an
// activation of its own.
bool can_fold_batchnorm_into(const Layer& layer);

// A new layer of `layer`'s type (built for `inputs`, with a bias, and with
// `activation` applied to its output) that computes layer -> norm with the
// weights as they are now.
std::unique_ptr<Layer> fold_batchnorm(const Layer& layer, const Layer& norm,
                                      const std::string& activation,
                                      const std::vector<Shape>& inputs);

}  // namespace pyconv

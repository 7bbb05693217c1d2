#include "graph/batchnorm_fold.h"

#include <cmath>
#include <cstring>

#include "core/error.h"

namespace pyconv {

namespace {
// The weight whose last axis (or last two, for a depthwise kernel) runs over
// the output channels: the one the normalization scales.
const char* scaled_weight(const std::string& type) {
  if (type == "SeparableConv2D") return "pointwise_kernel";
  if (type == "DepthwiseConv2D") return "depthwise_kernel";
  return "kernel";
}

const Param* find(const Layer& layer, const std::string& name) {
  for (const Param& p : layer.params())
    if (p.name == name) return &p;
  return nullptr;
}
}  // namespace

bool can_fold_batchnorm_into(const Layer& layer) {
  const std::string type = layer.type();
  const bool known = type == "Conv1D" || type == "Conv2D" || type == "DepthwiseConv2D" ||
                     type == "SeparableConv2D" || type == "Dense";
  return known && layer.activation() == ops::Activation::Linear;
}

std::unique_ptr<Layer> fold_batchnorm(const Layer& layer, const Layer& norm,
                                      const std::string& activation,
                                      const std::vector<Shape>& inputs) {
  Attrs attrs = layer.attrs();
  attrs.set("use_bias", true);
  attrs.set("activation", activation);
  std::unique_ptr<Layer> folded = create_layer(attrs);
  Rng rng(0);  // the values are all overwritten below
  folded->build(inputs, &rng);

  const Param* mean = find(norm, "moving_mean");
  const Param* var = find(norm, "moving_variance");
  const Param* gamma = find(norm, "gamma");
  const Param* beta = find(norm, "beta");
  if (!mean || !var) throw StateError(cat(norm.who(), ": no moving statistics to fold"));
  const int64_t C = mean->value.numel();
  const double epsilon = norm.attrs().get_float("epsilon", 1e-3);
  std::vector<float> scale(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const float g = gamma ? gamma->value.data()[c] : 1.f;
    // As the normalization itself rounds it, so folding changes little.
    scale[c] = g / std::sqrt(var->value.data()[c] + static_cast<float>(epsilon));
  }
  const std::string scaled = scaled_weight(layer.type());
  for (Param& p : folded->params()) {
    float* to = p.value.data();
    const int64_t n = p.value.numel();
    if (p.name == "bias") {
      const Param* bias = find(layer, "bias");
      if (n != C) throw StateError(cat(layer.who(), ": bias does not match ", norm.who()));
      for (int64_t c = 0; c < C; ++c) {
        const float b = bias ? bias->value.data()[c] : 0.f;
        to[c] = (b - mean->value.data()[c]) * scale[c] + (beta ? beta->value.data()[c] : 0.f);
      }
      continue;
    }
    const Param* from = find(layer, p.name);
    if (!from || from->value.numel() != n)
      throw StateError(cat(layer.who(), ": weight '", p.name, "' cannot be folded"));
    std::memcpy(to, from->value.data(), sizeof(float) * n);
    if (p.name != scaled) continue;
    if (n % C != 0) throw StateError(cat(layer.who(), ": '", p.name, "' does not end in ", C,
                                         " output channels"));
    for (int64_t i = 0; i < n; ++i) to[i] *= scale[i % C];
  }
  folded->prepare_inference();
  return folded;
}

}  // namespace pyconv

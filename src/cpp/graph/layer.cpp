#include "graph/layer.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace pyconv {

std::vector<std::string> with_regularizers(std::vector<std::string> keys) {
  for (const char* k : {"kernel_regularizer_l1", "kernel_regularizer_l2", "bias_regularizer_l1",
                        "bias_regularizer_l2", "kernel_constraint", "bias_constraint"})
    keys.push_back(k);
  return keys;
}

namespace {
// A weight's penalty and constraint from the layer's attributes: kernels
// (any *kernel) take the kernel's, "bias" the bias's.
void read_regularizer(const Attrs& a, const std::string& who, Param& p) {
  const bool kernel = p.name.size() >= 6 && p.name.compare(p.name.size() - 6, 6, "kernel") == 0;
  const std::string prefix = kernel ? "kernel_regularizer_" : p.name == "bias" ? "bias_regularizer_" : "";
  if (prefix.empty()) return;
  const double l1 = a.get_float(prefix + "l1", 0.0), l2 = a.get_float(prefix + "l2", 0.0);
  if (!(l1 >= 0 && l2 >= 0 && std::isfinite(l1) && std::isfinite(l2)))
    throw ValueError(cat(who, ": regularization factors must be non-negative and finite, "
                              "received l1=", l1, ", l2=", l2));
  p.l1 = static_cast<float>(l1), p.l2 = static_cast<float>(l2);
  const std::string constraint = kernel ? "kernel_constraint" : "bias_constraint";
  p.constraint = parse_constraint(a.get_string(constraint, ""), who);
}
}  // namespace

Layer::Layer(const Attrs& attrs) : attrs_(attrs), who_(attrs.who()) {
  const double l1 = attrs.get_float("activity_regularizer_l1", 0.0);
  const double l2 = attrs.get_float("activity_regularizer_l2", 0.0);
  if (!(l1 >= 0 && l2 >= 0 && std::isfinite(l1) && std::isfinite(l2)))
    throw ValueError(cat(who_, ": activity regularization factors must be non-negative and "
                               "finite, received l1=", l1, ", l2=", l2));
  activity_l1_ = static_cast<float>(l1), activity_l2_ = static_cast<float>(l2);
}

Param& Layer::add_param(const std::string& name, const Shape& shape) {
  shape_numel(shape, cat(who_, ": weight '", name, "'"));  // overflow names the layer
  Param p;
  p.name = name;
  read_regularizer(attrs_, who_, p);
  for (int64_t axis : p.constraint.axes)
    if (axis < -static_cast<int64_t>(shape.size()) || axis >= static_cast<int64_t>(shape.size()))
      throw ValueError(cat(who_, ": the constraint's axis ", axis, " is out of range for weight '",
                           name, "' of shape ", shape_str(shape)));
  // The gradient is allocated by the first backward pass.
  p.value = shape_only_ ? Tensor::view(static_cast<float*>(nullptr), shape) : Tensor(shape);
  params_.push_back(std::move(p));
  return params_.back();
}

Param& Layer::add_state(const std::string& name, const Shape& shape) {
  shape_numel(shape, cat(who_, ": state '", name, "'"));
  Param p;
  p.name = name;
  p.value = shape_only_ ? Tensor::view(static_cast<float*>(nullptr), shape) : Tensor(shape);
  p.trainable = false;
  p.is_state = true;
  params_.push_back(std::move(p));
  return params_.back();
}

Shape Layer::infer(const std::vector<Shape>& inputs) {
  params_.clear();
  shape_only_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{shape_only_};
  return build(inputs, nullptr);
}

void Layer::set_trainable(bool trainable) {
  for (Param& p : params_)
    if (!p.is_state) p.trainable = trainable;
  trainable_ = trainable;
}

bool Layer::trainable() const { return trainable_; }

void Layer::apply_activation(Tensor& out, const RunContext& ctx) const {
  const ops::Activation act = output_activation();
  if (ops::needs_input(act) && ctx.training && ctx.state) {
    Tensor& kept = ctx.state->pre_activation;
    kept.resize(out.shape());
    std::copy(out.data(), out.data() + out.numel(), kept.data());
  }
  const int64_t cols = out.dim(-1);
  ops::activation_forward(act, out.data(), out.numel() / cols, cols, ctx.threads);
}

void Layer::activation_backward(const Tensor& out, Tensor& dout, const RunContext& ctx) const {
  const ops::Activation act = output_activation();
  const float* x = nullptr;
  if (ops::needs_input(act)) {
    if (!ctx.state || ctx.state->pre_activation.shape() != out.shape())
      throw StateError(cat(who_, ": the backward pass of '", ops::activation_name(act),
                           "' needs a training forward pass first"));
    x = ctx.state->pre_activation.data();
  }
  const int64_t cols = out.dim(-1);
  ops::activation_backward(act, out.data(), dout.data(), out.numel() / cols, cols, ctx.threads, x);
}

}  // namespace pyconv

// Activation layers: a named activation (Activation), and those with
// arguments: LeakyReLU(negative_slope), ELU(alpha) and PReLU (a learned
// slope per element, shared along `shared_axes`).
#include <cmath>
#include <cstring>

#include "core/training.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/threads.h"
#include "graph/layer.h"
#include "graph/layers/broadcast.h"
#include "graph/layers/built.h"
#include "graph/layers/row_op.h"

namespace pyconv {

namespace {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(const Attrs& a) : Layer(a) {
    a.check_known({"activation"});
    if (!a.has("activation")) throw ValueError(cat(who(), ": missing required argument 'activation'"));
    activation_ = ops::parse_activation(a.get_string("activation", "linear"), who());
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    shape_ = inputs[0];
    return inputs[0];
  }

  // On an image's pixels: the activation (a softmax across each pixel's channels).
  bool row_op(pcvm::Op* op) const override {
    if (!kRowBandsBuilt) return false;
    const Shape& s = shape_;
    return s.size() == 3 && describe_rows(pcvm::kActivation, {s[0], s[1], s[2], s[0], s[1], s[2]}, op);
  }

  void forward_rows(const pcvm::Op& band, const float* x, float* y) const override {
    if (!kRowBandsBuilt) return;
    ops::activation_forward(output_activation(), x, y, int64_t{band.out_h} * band.out_w,
                            band.out_c, 1);
  }

  // The input stays in the graph for backward, so swish and gelu read it
  // there rather than from a copy (as a layer with a fused activation must).
  BackwardReads backward_reads() const override {
    return {ops::needs_input(activation_), activation_reads_output(), /*in_place=*/true};
  }

  // (Its kernel is left out of a runtime-only build, which never needs it.)
  bool checks_input_while_reading() const override { return kTrainingBuilt; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t cols = out.dim(-1);
    bool bad = false;
    ops::activation_forward(output_activation(), in[0]->data(), out.data(), out.numel() / cols,
                            cols, ctx.threads, ctx.check_input ? &bad : nullptr);
    if (bad) require_finite_input(in[0]->data(), in[0]->numel(), ctx.threads);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const int64_t cols = out.dim(-1);
    ops::activation_backward(output_activation(), out.data(), dout.data(), din[0]->data(),
                             out.numel() / cols, cols, ctx.threads, in[0]->data());
  }

 private:
  Shape shape_;  // per sample
};

// y = x for x > 0, else slope(x) (LeakyReLU: a * x; ELU: a * (e^x - 1)).
class SlopedLayer : public Layer {
 public:
  SlopedLayer(const Attrs& a, bool elu) : Layer(a), elu_(elu) {
    const char* key = elu ? "alpha" : "negative_slope";
    a.check_known({key});
    a_ = static_cast<float>(a.get_float(key, elu ? 1.0 : 0.3));
    if (!std::isfinite(a_) || (!elu && a_ < 0))
      throw ValueError(cat(who(), ": ", key, " must be ", elu ? "finite" : "non-negative",
                           ", received ", a_));
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override { return inputs[0]; }
  BackwardReads backward_reads() const override { return {true, true, /*in_place=*/true}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const float* x = in[0]->data();
    float* y = out.data();
    parallel_for(threads_for(out.numel(), ctx.threads), out.numel(), [&](int64_t i) {
      y[i] = x[i] > 0.f ? x[i] : (elu_ ? a_ * std::expm1(x[i]) : a_ * x[i]);
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const float* x = in[0]->data();
    const float* y = out.data();
    const float* dy = dout.data();
    float* dx = din[0]->data();
    parallel_for(threads_for(out.numel(), ctx.threads), out.numel(), [&](int64_t i) {
      dx[i] = x[i] > 0.f ? dy[i] : dy[i] * (elu_ ? y[i] + a_ : a_);
    });
  }

 private:
  bool elu_;
  float a_ = 0.3f;
};

class PReLULayer : public Layer {
 public:
  explicit PReLULayer(const Attrs& a) : Layer(a) {
    a.check_known({"alpha_initializer", "shared_axes"});
    if (a.has("shared_axes")) shared_ = a.get_int_list("shared_axes");
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    Shape alpha = inputs[0];
    for (int64_t axis : shared_) {  // Keras numbering: 1 is the first axis after the batch
      if (axis < 1 || axis > static_cast<int64_t>(alpha.size()))
        throw ValueError(cat(who(), ": shared_axes must be in [1, ", alpha.size(),
                             "] for inputs of shape ", batch_shape_str(inputs[0]),
                             ", received ", axis));
      alpha[axis - 1] = 1;
    }
    Param& p = add_param("alpha", alpha);
    initialize(p.value, attrs_.get_string("alpha_initializer", "zeros"), 1, 1, rng, who());
    alpha_with_batch_ = Shape{1};
    alpha_with_batch_.insert(alpha_with_batch_.end(), alpha.begin(), alpha.end());
    return inputs[0];
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    const Broadcast b = view(out);
    const float* x = in[0]->data();
    const float* alpha = params_[0].value.data();
    float* y = out.data();
    const int64_t cols = out.dim(-1), rows = out.numel() / cols;
    const int64_t step = b.col_step();
    for (int64_t r = 0; r < rows; ++r) {
      const float* ar = alpha + b.row_start(r);
      for (int64_t c = 0; c < cols; ++c) {
        const float v = x[r * cols + c];
        y[r * cols + c] = v > 0.f ? v : ar[step * c] * v;
      }
    }
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    require_training("backward");
    const Broadcast b = view(out);
    const float* x = in[0]->data();
    const float* alpha = params_[0].value.data();
    const float* dy = dout.data();
    float* dalpha = params_[0].grad.data();
    params_[0].grad.zero();
    const int64_t cols = out.dim(-1), rows = out.numel() / cols;
    const int64_t step = b.col_step();
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t start = b.row_start(r);
      for (int64_t c = 0; c < cols; ++c) {
        const int64_t i = r * cols + c, k = start + step * c;
        if (x[i] <= 0.f) dalpha[k] += dy[i] * x[i];
        if (din[0]) din[0]->data()[i] = x[i] > 0.f ? dy[i] : dy[i] * alpha[k];
      }
    }
  }

 private:
  // alpha (with a batch axis of 1) under the output.
  Broadcast view(const Tensor& out) const { return Broadcast(out.shape(), alpha_with_batch_); }

  std::vector<int64_t> shared_;
  Shape alpha_with_batch_;
};

}  // namespace

std::unique_ptr<Layer> make_activation(const Attrs& attrs) {
  return std::make_unique<ActivationLayer>(attrs);
}
std::unique_ptr<Layer> make_leaky_relu(const Attrs& attrs) {
  return std::make_unique<SlopedLayer>(attrs, false);
}
std::unique_ptr<Layer> make_elu(const Attrs& attrs) {
  return std::make_unique<SlopedLayer>(attrs, true);
}
std::unique_ptr<Layer> make_prelu(const Attrs& attrs) {
  return std::make_unique<PReLULayer>(attrs);
}

}  // namespace pyconv

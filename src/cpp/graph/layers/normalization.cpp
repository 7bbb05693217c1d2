// Normalizations within one sample:
//   LayerNormalization          each position's last axis to mean 0 and
//                               variance 1, then gamma * x + beta (Keras's
//                               epsilon 1e-3, center, scale).
//   LocalResponseNormalization  AlexNet's: x_c / (bias + alpha * sum of x_j^2
//                               over channels j within depth_radius of c)^beta,
//                               with TensorFlow's arguments and defaults (alpha
//                               is not divided by the window size).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/training.h"
#include "core/error.h"
#include "core/threads.h"
#include "graph/layer.h"
#include "kernels/dispatch.h"

namespace pyconv {

namespace {

class LayerNormLayer : public Layer {
 public:
  explicit LayerNormLayer(const Attrs& a) : Layer(a) {
    a.check_known({"axis", "epsilon", "center", "scale", "beta_initializer",
                   "gamma_initializer"});
    if (a.get_int("axis", -1) != -1)
      throw ValueError(cat(who(), ": only axis=-1 is supported, received ",
                           a.get_int("axis", -1)));
    epsilon_ = a.get_float("epsilon", 1e-3);
    center_ = a.get_bool("center", true);
    scale_ = a.get_bool("scale", true);
    if (!(epsilon_ > 0 && std::isfinite(epsilon_)))
      throw ValueError(cat(who(), ": epsilon must be positive, received ", epsilon_));
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    const int64_t C = inputs[0].back();
    if (scale_) {
      Param& g = add_param("gamma", {C});
      initialize(g.value, attrs_.get_string("gamma_initializer", "ones"), 1, 1, rng, who());
    }
    if (center_) {
      Param& b = add_param("beta", {C});
      initialize(b.value, attrs_.get_string("beta_initializer", "zeros"), 1, 1, rng, who());
    }
    return inputs[0];
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t C = out.dim(-1), rows = out.numel() / C;
    const float* x = in[0]->data();
    float* y = out.data();
    parallel_for(threads_for(rows * C, ctx.threads), rows, [&](int64_t r) {
      const Moments m = moments(x + r * C, C);
      for (int64_t c = 0; c < C; ++c)
        y[r * C + c] = static_cast<float>((x[r * C + c] - m.mean) * m.inv_std) * gamma(c) + beta(c);
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    require_training("backward");
    const int64_t C = dout.dim(-1), rows = dout.numel() / C;
    const float* x = in[0]->data();
    const float* dy = dout.data();
    std::vector<double> dgamma(C, 0.0), dbeta(C, 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const Moments m = moments(x + r * C, C);
      double mean_g = 0.0, mean_gx = 0.0;  // means of dxhat and dxhat * xhat over the row
      for (int64_t c = 0; c < C; ++c) {
        const double xhat = (x[r * C + c] - m.mean) * m.inv_std, g = dy[r * C + c] * gamma(c);
        dgamma[c] += dy[r * C + c] * xhat;
        dbeta[c] += dy[r * C + c];
        mean_g += g, mean_gx += g * xhat;
      }
      mean_g /= C, mean_gx /= C;
      if (!din[0]) continue;
      for (int64_t c = 0; c < C; ++c) {
        const double xhat = (x[r * C + c] - m.mean) * m.inv_std, g = dy[r * C + c] * gamma(c);
        din[0]->data()[r * C + c] = static_cast<float>(m.inv_std * (g - mean_g - xhat * mean_gx));
      }
    }
    size_t k = 0;
    if (scale_) copy(dgamma, params_[k++].grad);
    if (center_) copy(dbeta, params_[k++].grad);
  }

 private:
  struct Moments {
    double mean, inv_std;
  };
  Moments moments(const float* x, int64_t C) const {
    double sum = 0.0, sq = 0.0;
    for (int64_t c = 0; c < C; ++c) sum += x[c];
    const double mean = sum / C;
    for (int64_t c = 0; c < C; ++c) sq += (x[c] - mean) * (x[c] - mean);
    return {mean, 1.0 / std::sqrt(sq / C + epsilon_)};
  }
  static void copy(const std::vector<double>& from, Tensor& to) {
    for (size_t i = 0; i < from.size(); ++i) to.data()[i] = static_cast<float>(from[i]);
  }
  float gamma(int64_t c) const { return scale_ ? params_[0].value.data()[c] : 1.f; }
  float beta(int64_t c) const { return center_ ? params_[scale_ ? 1 : 0].value.data()[c] : 0.f; }

  double epsilon_ = 1e-3;
  bool center_ = true, scale_ = true;
};

class LocalResponseNormLayer : public Layer {
 public:
  explicit LocalResponseNormLayer(const Attrs& a) : Layer(a) {
    a.check_known({"depth_radius", "bias", "alpha", "beta"});
    radius_ = a.get_int("depth_radius", 5);
    bias_ = a.get_float("bias", 1.0);
    alpha_ = a.get_float("alpha", 1.0);
    beta_ = a.get_float("beta", 0.5);
    if (radius_ < 0 || !(bias_ > 0) || !(alpha_ >= 0) || !(beta_ >= 0) || !std::isfinite(bias_) ||
        !std::isfinite(alpha_) || !std::isfinite(beta_))
      throw ValueError(cat(who(), ": expected depth_radius >= 0, bias > 0, alpha >= 0 and "
                                  "beta >= 0, received ", radius_, ", ", bias_, ", ", alpha_,
                           ", ", beta_));
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override { return inputs[0]; }

  std::unique_ptr<LayerState> new_state() const override { return std::make_unique<State>(); }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t C = out.dim(-1), rows = out.numel() / C;
    float* base = nullptr;
    float* scale = nullptr;
    if (ctx.state) {  // what backward needs (kept: a second run allocates nothing)
      State& st = state_of<State>(ctx);
      st.base.resize(static_cast<size_t>(rows * C));
      st.scale.resize(static_cast<size_t>(rows * C));
      base = st.base.data(), scale = st.scale.data();
    }
    const float* x = in[0]->data();
    float* y = out.data();
    const auto kernel = kernels::active().lrn_forward_f32;
    in_row_blocks(rows, C, ctx.threads, [&](int64_t r0, int64_t r1) {
      kernel(params(), x + r0 * C, y + r0 * C, base ? base + r0 * C : nullptr,
             scale ? scale + r0 * C : nullptr, r1 - r0, C);
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const int64_t C = dout.dim(-1), rows = dout.numel() / C;
    const State& st = state_of<State>(ctx);
    if (st.base.size() != static_cast<size_t>(rows * C))
      throw StateError(cat(who(), ": backward needs a forward pass first"));
    const float* x = in[0]->data();
    const float* dy = dout.data();
    float* dx = din[0]->data();
    const auto kernel = kernels::active().lrn_backward_f32;
    in_row_blocks(rows, C, ctx.threads, [&](int64_t r0, int64_t r1) {
      kernel(params(), x + r0 * C, dy + r0 * C, st.base.data() + r0 * C,
             st.scale.data() + r0 * C, dx + r0 * C, r1 - r0, C);
    });
  }

 private:
  kernels::LrnParams params() const {
    return {radius_, static_cast<float>(bias_), static_cast<float>(alpha_),
            static_cast<float>(beta_)};
  }

  // body(r0, r1) over blocks of 64 rows, in parallel when worth it.
  template <class Body>
  void in_row_blocks(int64_t rows, int64_t C, int threads, Body body) const {
    const int64_t window = std::min(radius_, C - 1) * 2 + 1;
    parallel_blocks(threads_for(rows * C * (window + 8), threads), rows, /*block=*/64, body);
  }

  struct State : LayerState {
    std::vector<float> base, scale;  // per element: the denominator's base and base^-beta
    size_t bytes() const override { return (base.capacity() + scale.capacity()) * sizeof(float); }
    void release() override {
      std::vector<float>().swap(base);
      std::vector<float>().swap(scale);
    }
  };

  int64_t radius_ = 5;
  double bias_ = 1.0, alpha_ = 1.0, beta_ = 0.5;
};

}  // namespace

std::unique_ptr<Layer> make_layer_norm(const Attrs& a) { return std::make_unique<LayerNormLayer>(a); }
std::unique_ptr<Layer> make_local_response_norm(const Attrs& a) {
  return std::make_unique<LocalResponseNormLayer>(a);
}

}  // namespace pyconv

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

#include "core/error.h"
#include "core/threads.h"
#include "graph/layer.h"

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
    const float* x = in[0]->data();
    float* y = out.data();
    std::vector<double>& d = state_of<State>(ctx).d;  // kept: inference allocates nothing
    d.resize(static_cast<size_t>(rows * C));
    parallel_for(threads_for(rows * C * (2 * radius_ + 1), ctx.threads), rows, [&](int64_t r) {
      double* dr = d.data() + r * C;
      denominators(x + r * C, C, dr);
      for (int64_t c = 0; c < C; ++c)
        y[r * C + c] = static_cast<float>(x[r * C + c] * std::pow(dr[c], -beta_));
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    if (!din[0]) return;
    const int64_t C = dout.dim(-1), rows = dout.numel() / C;
    const float* x = in[0]->data();
    const float* dy = dout.data();
    float* dx = din[0]->data();
    parallel_for(threads_for(rows * C * (2 * radius_ + 1), ctx.threads), rows, [&](int64_t r) {
      const float* xr = x + r * C;
      const float* dyr = dy + r * C;
      std::vector<double> d(C), t(C);
      denominators(xr, C, d.data());
      // t_c = dy_c x_c d_c^(-beta - 1): what channel c sends back to its window.
      for (int64_t c = 0; c < C; ++c) t[c] = dyr[c] * xr[c] * std::pow(d[c], -beta_ - 1);
      for (int64_t j = 0; j < C; ++j) {
        double s = 0.0;
        for (int64_t c = std::max<int64_t>(0, j - radius_); c <= std::min(C - 1, j + radius_); ++c)
          s += t[c];
        dx[r * C + j] = static_cast<float>(dyr[j] * std::pow(d[j], -beta_) -
                                           2.0 * alpha_ * beta_ * xr[j] * s);
      }
    });
  }

 private:
  // d_c = bias + alpha * sum of x_j^2 for |j - c| <= radius.
  void denominators(const float* x, int64_t C, double* d) const {
    for (int64_t c = 0; c < C; ++c) {
      double s = 0.0;
      for (int64_t j = std::max<int64_t>(0, c - radius_); j <= std::min(C - 1, c + radius_); ++j)
        s += static_cast<double>(x[j]) * x[j];
      d[c] = bias_ + alpha_ * s;
    }
  }

  struct State : LayerState {
    std::vector<double> d;  // the denominators' bases, one per element
    size_t bytes() const override { return d.capacity() * sizeof(double); }
    void release() override { std::vector<double>().swap(d); }
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

// Keras 3's other optimizers, with its formulas and defaults:
//   Adagrad   acc += g^2;  w -= lr g / sqrt(acc + eps)  (acc starts at 0.1)
//   Adadelta  acc_g = rho acc_g + (1 - rho) g^2;
//             d = sqrt(acc_d + eps) / sqrt(acc_g + eps) g;
//             acc_d = rho acc_d + (1 - rho) d^2;  w -= lr d
//   Adamax    m = b1 m + (1 - b1) g;  u = max(b2 u, |g|);
//             w -= lr / (1 - b1^t) m / (u + eps)
//   Nadam     Adam with Nesterov momentum and Keras's momentum schedule
//             u_t = b1 (1 - 0.5 * 0.96^t)  (tf.keras 2 had 0.96^(0.004 t), as PyTorch has)
//   Lion      w -= lr sign(b1 m + (1 - b1) g);  m = b2 m + (1 - b2) g
// Each also takes weight_decay (decoupled) and the gradient clipping.
#include <cmath>

#include "graph/optimizer_checks.h"
#include "graph/optimizers.h"

namespace pyconv {

namespace {

using namespace optimizer_checks;

// The arguments every one of these takes besides its own.
void read_common(const Attrs& a, std::vector<std::string> own, double default_lr,
                 double& learning_rate, double& weight_decay) {
  for (const char* key : {"learning_rate", "weight_decay", "clipnorm", "clipvalue",
                          "global_clipnorm"})
    own.push_back(key);
  a.check_known(own);
  learning_rate = non_negative(a, "learning_rate", default_lr);
  weight_decay = non_negative(a, "weight_decay", 0.0);
}

// Runs body(i) for every value of a parameter, in parallel for big ones; the
// body returns the non_finite bits of what it wrote. True when all finite.
template <class Body>
bool for_each_value(int64_t n, int threads, Body body) {
  return update_in_slices(n, threads, [&body](int64_t lo, int64_t hi) {
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = lo; i < hi; ++i) bad |= body(i);
    return bad == 0;
  });
}

class Adagrad : public Optimizer {
 public:
  explicit Adagrad(const Attrs& a) {
    read_common(a, {"initial_accumulator_value", "epsilon"}, 0.001, learning_rate_,
                weight_decay_);
    initial_ = non_negative(a, "initial_accumulator_value", 0.1);
    epsilon_ = positive(a, "epsilon", 1e-7);
    read_clipping(a);
  }
  std::vector<std::string> slot_names() const override { return {"accumulator"}; }
  float slot_initial_value(size_t) const override { return static_cast<float>(initial_); }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const float lr = static_cast<float>(learning_rate_), eps = static_cast<float>(epsilon_);
    const float *w = p.value.data(), *g = p.grad.data(), *acc = slots[0].data();
    float *w_out_p = w_out.data(), *acc_out = slots_out[0].data();
    return for_each_value(p.value.numel(), threads, [=](int64_t i) {
      const float a = acc[i] + g[i] * g[i];
      const float wi = w[i] * keep - lr * g[i] / std::sqrt(a + eps);
      acc_out[i] = a, w_out_p[i] = wi;
      return non_finite(a) | non_finite(wi);
    });
  }

 private:
  double initial_ = 0.1, epsilon_ = 1e-7;
};

class Adadelta : public Optimizer {
 public:
  explicit Adadelta(const Attrs& a) {
    read_common(a, {"rho", "epsilon"}, 0.001, learning_rate_, weight_decay_);
    rho_ = decay_rate(a, "rho", 0.95);
    epsilon_ = positive(a, "epsilon", 1e-7);
    read_clipping(a);
  }
  std::vector<std::string> slot_names() const override {
    return {"accumulated_grad", "accumulated_delta_var"};
  }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const float lr = static_cast<float>(learning_rate_), rho = static_cast<float>(rho_),
                eps = static_cast<float>(epsilon_);
    const float *w = p.value.data(), *g = p.grad.data(), *ag = slots[0].data(),
                *ad = slots[1].data();
    float *w_out_p = w_out.data(), *ag_out = slots_out[0].data(), *ad_out = slots_out[1].data();
    return for_each_value(p.value.numel(), threads, [=](int64_t i) {
      const float agi = rho * ag[i] + (1.f - rho) * g[i] * g[i];
      const float delta = std::sqrt(ad[i] + eps) / std::sqrt(agi + eps) * g[i];
      const float adi = rho * ad[i] + (1.f - rho) * delta * delta;
      const float wi = w[i] * keep - lr * delta;
      ag_out[i] = agi, ad_out[i] = adi, w_out_p[i] = wi;
      return non_finite(agi) | non_finite(adi) | non_finite(wi);
    });
  }

 private:
  double rho_ = 0.95, epsilon_ = 1e-7;
};

// Adamax and Nadam: two moment decay rates and an epsilon, Adam's arguments.
class TwoMoments : public Optimizer {
 public:
  explicit TwoMoments(const Attrs& a) {
    read_common(a, {"beta_1", "beta_2", "epsilon"}, 0.001, learning_rate_, weight_decay_);
    beta1_ = decay_rate(a, "beta_1", 0.9);
    beta2_ = decay_rate(a, "beta_2", 0.999);
    epsilon_ = positive(a, "epsilon", 1e-7);
    read_clipping(a);
  }

 protected:
  double beta1_ = 0.9, beta2_ = 0.999, epsilon_ = 1e-7;
};

class Adamax : public TwoMoments {
 public:
  using TwoMoments::TwoMoments;
  std::vector<std::string> slot_names() const override { return {"m", "u"}; }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t step, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const float lr_t = static_cast<float>(
        learning_rate_ / (1.0 - std::pow(beta1_, static_cast<double>(step))));
    const float b1 = static_cast<float>(beta1_), b2 = static_cast<float>(beta2_),
                eps = static_cast<float>(epsilon_);
    const float *w = p.value.data(), *g = p.grad.data(), *m = slots[0].data(),
                *u = slots[1].data();
    float *w_out_p = w_out.data(), *m_out = slots_out[0].data(), *u_out = slots_out[1].data();
    return for_each_value(p.value.numel(), threads, [=](int64_t i) {
      const float mi = m[i] + (g[i] - m[i]) * (1.f - b1);
      const float ui = std::max(b2 * u[i], std::fabs(g[i]));
      const float wi = w[i] * keep - lr_t * mi / (ui + eps);
      m_out[i] = mi, u_out[i] = ui, w_out_p[i] = wi;
      return non_finite(mi) | non_finite(ui) | non_finite(wi);
    });
  }
};

class Nadam : public TwoMoments {
 public:
  using TwoMoments::TwoMoments;
  std::vector<std::string> slot_names() const override { return {"m", "v"}; }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t step, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const double t = static_cast<double>(step);
    const double u_t = momentum_at(t), u_next = momentum_at(t + 1);
    const double product = momentum_product(step), product_next = product * u_next;
    const float lr = static_cast<float>(learning_rate_);
    const float b1 = static_cast<float>(beta1_), b2 = static_cast<float>(beta2_),
                eps = static_cast<float>(epsilon_);
    // m_hat = c_m m + c_g g, v_hat = v / (1 - b2^t).
    const float c_m = static_cast<float>(u_next / (1.0 - product_next));
    const float c_g = static_cast<float>((1.0 - u_t) / (1.0 - product));
    const float c_v = static_cast<float>(1.0 / (1.0 - std::pow(beta2_, t)));
    const float *w = p.value.data(), *g = p.grad.data(), *m = slots[0].data(),
                *v = slots[1].data();
    float *w_out_p = w_out.data(), *m_out = slots_out[0].data(), *v_out = slots_out[1].data();
    return for_each_value(p.value.numel(), threads, [=](int64_t i) {
      const float mi = m[i] + (g[i] - m[i]) * (1.f - b1);
      const float vi = v[i] + (g[i] * g[i] - v[i]) * (1.f - b2);
      const float m_hat = c_m * mi + c_g * g[i];
      const float wi = w[i] * keep - lr * m_hat / (std::sqrt(vi * c_v) + eps);
      m_out[i] = mi, v_out[i] = vi, w_out_p[i] = wi;
      return non_finite(mi) | non_finite(vi) | non_finite(wi);
    });
  }

 private:
  // Keras's momentum schedule at step t.
  double momentum_at(double t) const { return beta1_ * (1.0 - 0.5 * std::pow(0.96, t)); }
  // The product of the schedule over steps 1..t: kept for every parameter
  // of a step, one factor more than the last step's, or all of them again
  // after a load.
  double momentum_product(int64_t t) {
    if (product_step_ == t) return product_;
    if (product_step_ != t - 1) {
      product_ = 1.0;
      for (int64_t s = 1; s < t; ++s) product_ *= momentum_at(static_cast<double>(s));
    }
    product_ *= momentum_at(static_cast<double>(t));
    product_step_ = t;
    return product_;
  }

  double product_ = 1.0;
  int64_t product_step_ = 0;
};

class Lion : public Optimizer {
 public:
  explicit Lion(const Attrs& a) {
    read_common(a, {"beta_1", "beta_2"}, 0.001, learning_rate_, weight_decay_);
    beta1_ = non_negative(a, "beta_1", 0.9);
    beta2_ = decay_rate(a, "beta_2", 0.99);
    if (beta1_ > 1.0) throw ValueError(cat(a.who(), ": beta_1 must be in [0, 1], received ", beta1_));
    read_clipping(a);
  }
  std::vector<std::string> slot_names() const override { return {"m"}; }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const float lr = static_cast<float>(learning_rate_), b1 = static_cast<float>(beta1_),
                b2 = static_cast<float>(beta2_);
    const float *w = p.value.data(), *g = p.grad.data(), *m = slots[0].data();
    float *w_out_p = w_out.data(), *m_out = slots_out[0].data();
    return for_each_value(p.value.numel(), threads, [=](int64_t i) {
      const float c = b1 * m[i] + (1.f - b1) * g[i];
      const float sign = c > 0.f ? 1.f : (c < 0.f ? -1.f : 0.f);
      const float wi = w[i] * keep - lr * sign;
      const float mi = b2 * m[i] + (1.f - b2) * g[i];
      m_out[i] = mi, w_out_p[i] = wi;
      return non_finite(c) | non_finite(mi) | non_finite(wi);
    });
  }

 private:
  double beta1_ = 0.9, beta2_ = 0.99;
};

}  // namespace

std::unique_ptr<Optimizer> make_adaptive_optimizer(const Attrs& a) {
  const std::string type = a.type();
  if (type == "adagrad") return std::make_unique<Adagrad>(a);
  if (type == "adadelta") return std::make_unique<Adadelta>(a);
  if (type == "adamax") return std::make_unique<Adamax>(a);
  if (type == "nadam") return std::make_unique<Nadam>(a);
  if (type == "lion") return std::make_unique<Lion>(a);
  return nullptr;
}

}  // namespace pyconv

#include "graph/optimizers.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace pyconv {

void Optimizer::step(const std::vector<Param*>& params, int threads) {
  if (slots_.size() != params.size()) {
    slots_.assign(params.size(), {});
    for (size_t i = 0; i < params.size(); ++i)
      for (int s = 0; s < slot_count(); ++s) {
        slots_[i].emplace_back(params[i]->value.shape());
        slots_[i].back().zero();
      }
  }
  ++iterations_;
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    if (weight_decay_ > 0.0) {
      const float keep = static_cast<float>(1.0 - learning_rate_ * weight_decay_);
      float* w = p.value.data();
      for (int64_t j = 0; j < p.value.numel(); ++j) w[j] *= keep;
    }
    update(p, slots_[i], threads);
    ++p.version;
  }
}

namespace {

double non_negative(const Attrs& a, const char* key, double fallback) {
  const double v = a.get_float(key, fallback);
  if (!(v >= 0.0) || !std::isfinite(v))
    throw ValueError(cat(a.who(), ": ", key, " must be a non-negative number, received ", v));
  return v;
}

class SGD : public Optimizer {
 public:
  explicit SGD(const Attrs& a) {
    a.check_known({"learning_rate", "momentum", "nesterov", "weight_decay"});
    learning_rate_ = non_negative(a, "learning_rate", 0.01);
    momentum_ = non_negative(a, "momentum", 0.0);
    if (momentum_ >= 1.0) throw ValueError(cat(a.who(), ": momentum must be in [0, 1), received ", momentum_));
    nesterov_ = a.get_bool("nesterov", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
  }

 protected:
  int slot_count() const override { return momentum_ > 0.0 ? 1 : 0; }

  void update(Param& p, std::vector<Tensor>& slots, int threads) override {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const int64_t n = p.value.numel();
    const float lr = static_cast<float>(learning_rate_), mu = static_cast<float>(momentum_);
    if (slots.empty()) {
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536)
      for (int64_t i = 0; i < n; ++i) w[i] -= lr * g[i];
      return;
    }
    float* m = slots[0].data();
    const bool nesterov = nesterov_;
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = mu * m[i] - lr * g[i];
      w[i] += nesterov ? mu * m[i] - lr * g[i] : m[i];
    }
  }

 private:
  double momentum_ = 0.0;
  bool nesterov_ = false;
};

class Adam : public Optimizer {
 public:
  explicit Adam(const Attrs& a) {
    a.check_known({"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay"});
    learning_rate_ = non_negative(a, "learning_rate", 0.001);
    beta1_ = non_negative(a, "beta_1", 0.9);
    beta2_ = non_negative(a, "beta_2", 0.999);
    if (beta1_ >= 1.0 || beta2_ >= 1.0)
      throw ValueError(cat(a.who(), ": beta_1 and beta_2 must be in [0, 1), received ", beta1_,
                           " and ", beta2_));
    epsilon_ = non_negative(a, "epsilon", 1e-7);
    amsgrad_ = a.get_bool("amsgrad", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
  }

 protected:
  int slot_count() const override { return amsgrad_ ? 3 : 2; }

  void update(Param& p, std::vector<Tensor>& slots, int threads) override {
    const double t = static_cast<double>(iterations_);
    const float lr_t = static_cast<float>(learning_rate_ * std::sqrt(1.0 - std::pow(beta2_, t)) /
                                          (1.0 - std::pow(beta1_, t)));
    const Rates r{static_cast<float>(beta1_), static_cast<float>(beta2_), lr_t,
                  static_cast<float>(epsilon_)};
    float* vmax = amsgrad_ ? slots[2].data() : nullptr;
    if (vmax)
      apply<true>(r, p, slots[0].data(), slots[1].data(), vmax, threads);
    else
      apply<false>(r, p, slots[0].data(), slots[1].data(), nullptr, threads);
  }

 private:
  struct Rates {  // decay rates of the two moments, this step's rate, epsilon
    float b1, b2, lr_t, eps;
  };

  // One loop per variant, with no branch inside, so that it vectorises.
  template <bool kAmsgrad>
  static void apply(const Rates& r, Param& p, float* m, float* v, float* vmax, int threads) {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const int64_t n = p.value.numel();
    // Locals, not r's fields: the stores below could alias those for all the compiler knows.
    const float keep1 = 1.f - r.b1, keep2 = 1.f - r.b2, lr_t = r.lr_t, eps = r.eps;
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      m[i] += (g[i] - m[i]) * keep1;
      v[i] += (g[i] * g[i] - v[i]) * keep2;
      float vi = v[i];
      if constexpr (kAmsgrad) vi = vmax[i] = std::max(vmax[i], vi);
      w[i] -= lr_t * m[i] / (std::sqrt(vi) + eps);
    }
  }

  double beta1_ = 0.9, beta2_ = 0.999, epsilon_ = 1e-7;
  bool amsgrad_ = false;
};

// Keras's RMSprop: v = rho v + (1 - rho) g^2; step lr g / sqrt(v + eps), with
// optional momentum and centring (subtracting the squared running mean
// gradient from v).
class RMSprop : public Optimizer {
 public:
  explicit RMSprop(const Attrs& a) {
    a.check_known({"learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay"});
    learning_rate_ = non_negative(a, "learning_rate", 0.001);
    rho_ = non_negative(a, "rho", 0.9);
    momentum_ = non_negative(a, "momentum", 0.0);
    if (rho_ >= 1.0 || momentum_ >= 1.0)
      throw ValueError(cat(a.who(), ": rho and momentum must be in [0, 1), received ", rho_,
                           " and ", momentum_));
    epsilon_ = non_negative(a, "epsilon", 1e-7);
    centered_ = a.get_bool("centered", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
  }

 protected:
  int slot_count() const override { return 3; }  // v, momentum buffer, mean gradient

  void update(Param& p, std::vector<Tensor>& slots, int threads) override {
    const Rates r{static_cast<float>(learning_rate_), static_cast<float>(rho_),
                  static_cast<float>(momentum_), static_cast<float>(epsilon_)};
    float *v = slots[0].data(), *m = slots[1].data(), *mg = slots[2].data();
    const bool momentum = momentum_ > 0.0;
    if (centered_)
      momentum ? apply<true, true>(r, p, v, m, mg, threads) : apply<true, false>(r, p, v, m, mg, threads);
    else
      momentum ? apply<false, true>(r, p, v, m, mg, threads) : apply<false, false>(r, p, v, m, mg, threads);
  }

 private:
  struct Rates {
    float lr, rho, mu, eps;
  };

  // One loop per variant, with no branch inside, so that it vectorises.
  template <bool kCentered, bool kMomentum>
  static void apply(const Rates& r, Param& p, float* v, float* m, float* mg, int threads) {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const int64_t n = p.value.numel();
    // Locals, not r's fields: the stores below could alias those for all the compiler knows.
    const float lr = r.lr, rho = r.rho, mu = r.mu, eps = r.eps;
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      v[i] = rho * v[i] + (1.f - rho) * g[i] * g[i];
      float denom = v[i];
      if constexpr (kCentered) {
        mg[i] = rho * mg[i] + (1.f - rho) * g[i];
        denom -= mg[i] * mg[i];
      }
      const float step = lr * g[i] / std::sqrt(std::max(denom, 0.f) + eps);
      if constexpr (kMomentum) {
        m[i] = mu * m[i] + step;
        w[i] -= m[i];
      } else {
        w[i] -= step;
      }
    }
  }

  double rho_ = 0.9, momentum_ = 0.0, epsilon_ = 1e-7;
  bool centered_ = false;
};

}  // namespace

std::unique_ptr<Optimizer> make_optimizer(const Attrs& a) {
  const std::string type = a.type();
  if (type == "sgd") return std::make_unique<SGD>(a);
  if (type == "adam") return std::make_unique<Adam>(a);
  if (type == "rmsprop") return std::make_unique<RMSprop>(a);
  throw ValueError(cat("unknown optimizer '", type, "'; expected one of 'sgd', 'adam', 'rmsprop'"));
}

}  // namespace pyconv

#include "graph/optimizers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace pyconv {

namespace {
// 1 for NaN and inf: what a dry run of an update looks for.
inline int non_finite(float v) { return !(std::fabs(v) <= std::numeric_limits<float>::max()); }

double non_negative(const Attrs& a, const char* key, double fallback) {
  const double v = a.get_float(key, fallback);
  if (!(v >= 0.0) || !std::isfinite(v))
    throw ValueError(cat(a.who(), ": ", key, " must be a non-negative number, received ", v));
  return v;
}

// epsilon keeps a division away from zero: it must be positive.
double positive(const Attrs& a, const char* key, double fallback) {
  const double v = a.get_float(key, fallback);
  if (!(v > 0.0) || !std::isfinite(v))
    throw ValueError(cat(a.who(), ": ", key, " must be a positive number, received ", v));
  return v;
}
}  // namespace

void Optimizer::set_learning_rate(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw ValueError(cat("learning_rate must be a finite non-negative number, received ", lr));
  learning_rate_ = lr;
}

std::vector<std::vector<Tensor>>& Optimizer::slots(const std::vector<Param*>& params) {
  const size_t count = slot_names().size();
  if (slots_.size() != params.size()) {
    slots_.assign(params.size(), {});
    for (size_t i = 0; i < params.size(); ++i)
      for (size_t s = 0; s < count; ++s) {
        slots_[i].emplace_back(params[i]->value.shape());
        slots_[i].back().zero();
      }
  }
  return slots_;
}

float Optimizer::decay_keep() const {
  return weight_decay_ > 0.0 ? static_cast<float>(1.0 - learning_rate_ * weight_decay_) : 1.f;
}

int Optimizer::first_unstable(const std::vector<Param*>& params, int threads) {
  auto& all = slots(params);
  for (size_t i = 0; i < params.size(); ++i)
    if (params[i]->trainable &&
        !update(*params[i], all[i], iterations_ + 1, decay_keep(), false, threads))
      return static_cast<int>(i);
  return -1;
}

void Optimizer::step(const std::vector<Param*>& params, int threads) {
  auto& all = slots(params);
  ++iterations_;
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    if (!p.trainable) continue;
    update(p, all[i], iterations_, decay_keep(), true, threads);
    ++p.version;
  }
}

namespace {

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

  std::vector<std::string> slot_names() const override {
    return momentum_ > 0.0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
  }

 protected:
  bool update(Param& p, std::vector<Tensor>& slots, int64_t, float keep, bool store,
              int threads) override {
    const float lr = static_cast<float>(learning_rate_), mu = static_cast<float>(momentum_);
    if (slots.empty())
      return store ? apply<true, false>(lr, mu, keep, p, nullptr, threads)
                   : apply<false, false>(lr, mu, keep, p, nullptr, threads);
    float* m = slots[0].data();
    if (nesterov_)
      return store ? apply<true, true, true>(lr, mu, keep, p, m, threads)
                   : apply<false, true, true>(lr, mu, keep, p, m, threads);
    return store ? apply<true, true>(lr, mu, keep, p, m, threads)
                 : apply<false, true>(lr, mu, keep, p, m, threads);
  }

 private:
  // One loop per variant, with no branch inside, so that it vectorises.
  template <bool kStore, bool kMomentum, bool kNesterov = false>
  static bool apply(float lr, float mu, float keep, Param& p, float* m, int threads) {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const int64_t n = p.value.numel();
    int bad = 0;
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536) reduction(| : bad)
    for (int64_t i = 0; i < n; ++i) {
      float wi = w[i] * keep;
      if constexpr (kMomentum) {
        const float mi = mu * m[i] - lr * g[i];
        wi += kNesterov ? mu * mi - lr * g[i] : mi;
        if constexpr (kStore) m[i] = mi;
        else bad |= non_finite(mi);
      } else {
        wi -= lr * g[i];
      }
      if constexpr (kStore) w[i] = wi;
      else bad |= non_finite(wi);
    }
    return bad == 0;
  }

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
    epsilon_ = positive(a, "epsilon", 1e-7);
    amsgrad_ = a.get_bool("amsgrad", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
  }

  std::vector<std::string> slot_names() const override {
    if (amsgrad_) return {"m", "v", "vmax"};
    return {"m", "v"};
  }

 protected:
  bool update(Param& p, std::vector<Tensor>& slots, int64_t step, float keep, bool store,
              int threads) override {
    const double t = static_cast<double>(step);
    const float lr_t = static_cast<float>(learning_rate_ * std::sqrt(1.0 - std::pow(beta2_, t)) /
                                          (1.0 - std::pow(beta1_, t)));
    const Rates r{static_cast<float>(beta1_), static_cast<float>(beta2_), lr_t,
                  static_cast<float>(epsilon_), keep};
    float *m = slots[0].data(), *v = slots[1].data();
    float* vmax = amsgrad_ ? slots[2].data() : nullptr;
    if (vmax)
      return store ? apply<true, true>(r, p, m, v, vmax, threads)
                   : apply<false, true>(r, p, m, v, vmax, threads);
    return store ? apply<true, false>(r, p, m, v, nullptr, threads)
                 : apply<false, false>(r, p, m, v, nullptr, threads);
  }

 private:
  struct Rates {  // decay rates of the two moments, this step's rate, epsilon, decay
    float b1, b2, lr_t, eps, keep;
  };

  // One loop per variant, with no branch inside, so that it vectorises.
  template <bool kStore, bool kAmsgrad>
  static bool apply(const Rates& r, Param& p, float* m, float* v, float* vmax, int threads) {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const int64_t n = p.value.numel();
    // Locals, not r's fields: the stores below could alias those for all the compiler knows.
    const float keep1 = 1.f - r.b1, keep2 = 1.f - r.b2, lr_t = r.lr_t, eps = r.eps, keep = r.keep;
    int bad = 0;
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536) reduction(| : bad)
    for (int64_t i = 0; i < n; ++i) {
      const float mi = m[i] + (g[i] - m[i]) * keep1;
      const float vi = v[i] + (g[i] * g[i] - v[i]) * keep2;
      float vhat = vi;
      if constexpr (kAmsgrad) vhat = std::max(vmax[i], vi);
      const float wi = w[i] * keep - lr_t * mi / (std::sqrt(vhat) + eps);
      if constexpr (kStore) {
        m[i] = mi, v[i] = vi, w[i] = wi;
        if constexpr (kAmsgrad) vmax[i] = vhat;
      } else {
        bad |= non_finite(mi) | non_finite(vi) | non_finite(wi);
      }
    }
    return bad == 0;
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
    epsilon_ = positive(a, "epsilon", 1e-7);
    centered_ = a.get_bool("centered", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
  }

  // v, the momentum buffer, the mean gradient.
  std::vector<std::string> slot_names() const override { return {"v", "momentum", "mean_grad"}; }

 protected:
  bool update(Param& p, std::vector<Tensor>& slots, int64_t, float keep, bool store,
              int threads) override {
    const Rates r{static_cast<float>(learning_rate_), static_cast<float>(rho_),
                  static_cast<float>(momentum_), static_cast<float>(epsilon_), keep};
    float *v = slots[0].data(), *m = slots[1].data(), *mg = slots[2].data();
    const bool momentum = momentum_ > 0.0;
    if (store) {
      if (centered_)
        return momentum ? apply<true, true, true>(r, p, v, m, mg, threads)
                        : apply<true, true, false>(r, p, v, m, mg, threads);
      return momentum ? apply<true, false, true>(r, p, v, m, mg, threads)
                      : apply<true, false, false>(r, p, v, m, mg, threads);
    }
    if (centered_)
      return momentum ? apply<false, true, true>(r, p, v, m, mg, threads)
                      : apply<false, true, false>(r, p, v, m, mg, threads);
    return momentum ? apply<false, false, true>(r, p, v, m, mg, threads)
                    : apply<false, false, false>(r, p, v, m, mg, threads);
  }

 private:
  struct Rates {
    float lr, rho, mu, eps, keep;
  };

  // One loop per variant, with no branch inside, so that it vectorises.
  template <bool kStore, bool kCentered, bool kMomentum>
  static bool apply(const Rates& r, Param& p, float* v, float* m, float* mg, int threads) {
    float* w = p.value.data();
    const float* g = p.grad.data();
    const int64_t n = p.value.numel();
    // Locals, not r's fields: the stores below could alias those for all the compiler knows.
    const float lr = r.lr, rho = r.rho, mu = r.mu, eps = r.eps, keep = r.keep;
    int bad = 0;
#pragma omp parallel for simd num_threads(threads) if (parallel: n > 65536) reduction(| : bad)
    for (int64_t i = 0; i < n; ++i) {
      const float vi = rho * v[i] + (1.f - rho) * g[i] * g[i];
      float denom = vi, mgi = 0.f, mi = 0.f;
      if constexpr (kCentered) {
        mgi = rho * mg[i] + (1.f - rho) * g[i];
        denom -= mgi * mgi;
      }
      const float step = lr * g[i] / std::sqrt(std::max(denom, 0.f) + eps);
      float wi = w[i] * keep;
      if constexpr (kMomentum) {
        mi = mu * m[i] + step;
        wi -= mi;
      } else {
        wi -= step;
      }
      if constexpr (kStore) {
        v[i] = vi, w[i] = wi;
        if constexpr (kCentered) mg[i] = mgi;
        if constexpr (kMomentum) m[i] = mi;
      } else {
        bad |= non_finite(vi) | non_finite(wi) | non_finite(mgi) | non_finite(mi);
      }
    }
    return bad == 0;
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

#include "graph/optimizers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"
#include "graph/optimizer_checks.h"

namespace pyconv {

using namespace optimizer_checks;

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
        Tensor& slot = slots_[i].back();
        std::fill(slot.data(), slot.data() + slot.numel(), slot_initial_value(s));
      }
  }
  return slots_;
}

float Optimizer::decay_keep() const {
  return weight_decay_ > 0.0 ? static_cast<float>(1.0 - learning_rate_ * weight_decay_) : 1.f;
}

void Optimizer::read_clipping(const Attrs& a) {
  clipnorm_ = non_negative(a, "clipnorm", 0.0);
  clipvalue_ = non_negative(a, "clipvalue", 0.0);
  global_clipnorm_ = non_negative(a, "global_clipnorm", 0.0);
  if (clipnorm_ > 0.0 && global_clipnorm_ > 0.0)
    throw ValueError(cat(a.who(), ": only one of clipnorm and global_clipnorm can be set"));
}

namespace {

double squared_norm(const Tensor& g) {
  double sum = 0.0;
  for (int64_t i = 0; i < g.numel(); ++i) sum += static_cast<double>(g.data()[i]) * g.data()[i];
  return sum;
}

void scale(Tensor& g, double factor) {
  const float f = static_cast<float>(factor);
  for (int64_t i = 0; i < g.numel(); ++i) g.data()[i] *= f;
}

}  // namespace

// Keras's order: each gradient by its own norm, or all by their global
// norm; then each value into [-clipvalue, clipvalue]. A norm that is not
// finite is left alone (the update then fails its check, changing nothing).
void Optimizer::clip(const std::vector<Param*>& params) const {
  if (clipnorm_ > 0.0)
    for (Param* p : params) {
      if (!p->trainable) continue;
      const double norm = std::sqrt(squared_norm(p->grad));
      if (norm > clipnorm_ && std::isfinite(norm)) scale(p->grad, clipnorm_ / norm);
    }
  if (global_clipnorm_ > 0.0) {
    double total = 0.0;
    for (const Param* p : params)
      if (p->trainable) total += squared_norm(p->grad);
    const double norm = std::sqrt(total);
    if (norm > global_clipnorm_ && std::isfinite(norm))
      for (Param* p : params)
        if (p->trainable) scale(p->grad, global_clipnorm_ / norm);
  }
  if (clipvalue_ > 0.0) {
    const float v = static_cast<float>(clipvalue_);
    for (Param* p : params) {
      if (!p->trainable) continue;
      float* g = p->grad.data();
      for (int64_t i = 0; i < p->grad.numel(); ++i) g[i] = std::min(v, std::max(-v, g[i]));
    }
  }
}

int Optimizer::step(const std::vector<Param*>& params, int threads) {
  clip(params);
  auto& current = slots(params);
  if (spare_values_.size() != params.size()) {
    spare_values_.assign(params.size(), Tensor());
    spare_slots_.assign(params.size(), {});
  }
  const int64_t t = iterations_ + 1;
  for (size_t i = 0; i < params.size(); ++i) {
    const Param& p = *params[i];
    if (!p.trainable) continue;
    spare_values_[i].resize(p.value.shape());
    spare_slots_[i].resize(current[i].size());
    for (Tensor& s : spare_slots_[i]) s.resize(p.value.shape());
    if (!update(p, current[i], t, decay_keep(), spare_values_[i], spare_slots_[i], threads))
      return static_cast<int>(i);
  }
  // Every new value is finite: the spares become the state (and the old
  // state the next step's spares).
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = *params[i];
    if (!p.trainable) continue;
    std::swap(p.value, spare_values_[i]);
    std::swap(current[i], spare_slots_[i]);
    ++p.version;
  }
  iterations_ = t;
  return -1;
}

namespace {

class SGD : public Optimizer {
 public:
  explicit SGD(const Attrs& a) {
    a.check_known({"learning_rate", "momentum", "nesterov", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"});
    learning_rate_ = non_negative(a, "learning_rate", 0.01);
    momentum_ = non_negative(a, "momentum", 0.0);
    if (momentum_ >= 1.0) throw ValueError(cat(a.who(), ": momentum must be in [0, 1), received ", momentum_));
    nesterov_ = a.get_bool("nesterov", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
    read_clipping(a);
  }

  std::vector<std::string> slot_names() const override {
    return momentum_ > 0.0 ? std::vector<std::string>{"momentum"} : std::vector<std::string>{};
  }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const Rates r{static_cast<float>(learning_rate_), static_cast<float>(momentum_), keep};
    const bool momentum = !slots.empty();
    const Io io{p.value.data(), p.grad.data(), momentum ? slots[0].data() : nullptr,
                w_out.data(), momentum ? slots_out[0].data() : nullptr, p.value.numel()};
    if (!momentum) return apply<false>(r, io, threads);
    return nesterov_ ? apply<true, true>(r, io, threads) : apply<true>(r, io, threads);
  }

 private:
  struct Rates {
    float lr, mu, keep;
  };
  struct Io {  // the current weights, gradient and momentum, and where the new ones go
    const float *w, *g, *m;
    float *w_out, *m_out;
    int64_t n;
  };

  // Values [lo, hi): one loop per variant, with no branch inside, so that
  // it vectorises. True when all it wrote is finite.
  template <bool kMomentum, bool kNesterov = false>
  static bool apply_range(const Rates& r, const Io& io, int64_t lo, int64_t hi) {
    // Locals, not r's or io's fields: the stores below could alias those for
    // all the compiler knows.
    const float lr = r.lr, mu = r.mu, keep = r.keep;
    const float *w = io.w, *g = io.g, *m = io.m;
    float *w_out = io.w_out, *m_out = io.m_out;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = lo; i < hi; ++i) {
      float wi = w[i] * keep;
      if constexpr (kMomentum) {
        const float mi = mu * m[i] - lr * g[i];
        wi += kNesterov ? mu * mi - lr * g[i] : mi;
        m_out[i] = mi;
        bad |= non_finite(mi);
      } else {
        wi -= lr * g[i];
      }
      w_out[i] = wi;
      bad |= non_finite(wi);
    }
    return bad == 0;
  }

  template <bool kMomentum, bool kNesterov = false>
  static bool apply(const Rates& r, const Io& io, int threads) {
    return update_in_slices(io.n, threads, [&](int64_t lo, int64_t hi) {
      return apply_range<kMomentum, kNesterov>(r, io, lo, hi);
    });
  }

  double momentum_ = 0.0;
  bool nesterov_ = false;
};

class Adam : public Optimizer {
 public:
  explicit Adam(const Attrs& a) {
    a.check_known({"learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"});
    learning_rate_ = non_negative(a, "learning_rate", 0.001);
    beta1_ = non_negative(a, "beta_1", 0.9);
    beta2_ = non_negative(a, "beta_2", 0.999);
    if (beta1_ >= 1.0 || beta2_ >= 1.0)
      throw ValueError(cat(a.who(), ": beta_1 and beta_2 must be in [0, 1), received ", beta1_,
                           " and ", beta2_));
    epsilon_ = positive(a, "epsilon", 1e-7);
    amsgrad_ = a.get_bool("amsgrad", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
    read_clipping(a);
  }

  std::vector<std::string> slot_names() const override {
    if (amsgrad_) return {"m", "v", "vmax"};
    return {"m", "v"};
  }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t step, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const double t = static_cast<double>(step);
    const float lr_t = static_cast<float>(learning_rate_ * std::sqrt(1.0 - std::pow(beta2_, t)) /
                                          (1.0 - std::pow(beta1_, t)));
    const Rates r{static_cast<float>(beta1_), static_cast<float>(beta2_), lr_t,
                  static_cast<float>(epsilon_), keep};
    Io io{p.value.data(), p.grad.data(), slots[0].data(), slots[1].data(), nullptr,
          w_out.data(), slots_out[0].data(), slots_out[1].data(), nullptr, p.value.numel()};
    if (!amsgrad_) return apply<false>(r, io, threads);
    io.vmax = slots[2].data();
    io.vmax_out = slots_out[2].data();
    return apply<true>(r, io, threads);
  }

 private:
  struct Rates {  // decay rates of the two moments, this step's rate, epsilon, decay
    float b1, b2, lr_t, eps, keep;
  };
  struct Io {  // current weights, gradient and slots, and where the new ones go
    const float *w, *g, *m, *v, *vmax;
    float *w_out, *m_out, *v_out, *vmax_out;
    int64_t n;
  };

  // Values [lo, hi): one loop per variant, with no branch inside, so that
  // it vectorises. True when all it wrote is finite.
  template <bool kAmsgrad>
  static bool apply_range(const Rates& r, const Io& io, int64_t lo, int64_t hi) {
    // Locals, not r's or io's fields: the stores below could alias those for
    // all the compiler knows.
    const float keep1 = 1.f - r.b1, keep2 = 1.f - r.b2, lr_t = r.lr_t, eps = r.eps, keep = r.keep;
    const float *w = io.w, *g = io.g, *m = io.m, *v = io.v, *vmax = io.vmax;
    float *w_out = io.w_out, *m_out = io.m_out, *v_out = io.v_out, *vmax_out = io.vmax_out;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = lo; i < hi; ++i) {
      const float mi = m[i] + (g[i] - m[i]) * keep1;
      const float vi = v[i] + (g[i] * g[i] - v[i]) * keep2;
      float vhat = vi;
      if constexpr (kAmsgrad) vmax_out[i] = vhat = std::max(vmax[i], vi);
      const float wi = w[i] * keep - lr_t * mi / (std::sqrt(vhat) + eps);
      m_out[i] = mi, v_out[i] = vi, w_out[i] = wi;
      bad |= non_finite(mi) | non_finite(vi) | non_finite(wi);
    }
    return bad == 0;
  }

  template <bool kAmsgrad>
  static bool apply(const Rates& r, const Io& io, int threads) {
    return update_in_slices(io.n, threads, [&](int64_t lo, int64_t hi) {
      return apply_range<kAmsgrad>(r, io, lo, hi);
    });
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
    a.check_known({"learning_rate", "rho", "momentum", "epsilon", "centered", "weight_decay", "clipnorm", "clipvalue", "global_clipnorm"});
    learning_rate_ = non_negative(a, "learning_rate", 0.001);
    rho_ = non_negative(a, "rho", 0.9);
    momentum_ = non_negative(a, "momentum", 0.0);
    if (rho_ >= 1.0 || momentum_ >= 1.0)
      throw ValueError(cat(a.who(), ": rho and momentum must be in [0, 1), received ", rho_,
                           " and ", momentum_));
    epsilon_ = positive(a, "epsilon", 1e-7);
    centered_ = a.get_bool("centered", false);
    weight_decay_ = non_negative(a, "weight_decay", 0.0);
    read_clipping(a);
  }

  // v, then the momentum buffer and the mean gradient where used.
  std::vector<std::string> slot_names() const override {
    std::vector<std::string> names{"v"};
    if (momentum_ > 0.0) names.push_back("momentum");
    if (centered_) names.push_back("mean_grad");
    return names;
  }

 protected:
  bool update(const Param& p, const std::vector<Tensor>& slots, int64_t, float keep,
              Tensor& w_out, std::vector<Tensor>& slots_out, int threads) override {
    const Rates r{static_cast<float>(learning_rate_), static_cast<float>(rho_),
                  static_cast<float>(momentum_), static_cast<float>(epsilon_), keep};
    const bool momentum = momentum_ > 0.0;
    Io io{p.value.data(), p.grad.data(), slots[0].data(), nullptr, nullptr,
          w_out.data(), slots_out[0].data(), nullptr, nullptr, p.value.numel()};
    size_t next = 1;  // slots in slot_names() order
    if (momentum) io.m = slots[next].data(), io.m_out = slots_out[next].data(), ++next;
    if (centered_) io.mg = slots[next].data(), io.mg_out = slots_out[next].data();
    if (centered_)
      return momentum ? apply<true, true>(r, io, threads) : apply<true, false>(r, io, threads);
    return momentum ? apply<false, true>(r, io, threads) : apply<false, false>(r, io, threads);
  }

 private:
  struct Rates {
    float lr, rho, mu, eps, keep;
  };
  struct Io {  // current weights, gradient and slots, and where the new ones go
    const float *w, *g, *v, *m, *mg;
    float *w_out, *v_out, *m_out, *mg_out;
    int64_t n;
  };

  // Values [lo, hi): one loop per variant, with no branch inside, so that
  // it vectorises. True when all it wrote is finite.
  template <bool kCentered, bool kMomentum>
  static bool apply_range(const Rates& r, const Io& io, int64_t lo, int64_t hi) {
    // Locals, not r's or io's fields: the stores below could alias those for
    // all the compiler knows.
    const float lr = r.lr, rho = r.rho, mu = r.mu, eps = r.eps, keep = r.keep;
    const float *w = io.w, *g = io.g, *v = io.v, *m = io.m, *mg = io.mg;
    float *w_out = io.w_out, *v_out = io.v_out, *m_out = io.m_out, *mg_out = io.mg_out;
    int bad = 0;
#pragma omp simd reduction(| : bad)
    for (int64_t i = lo; i < hi; ++i) {
      const float vi = rho * v[i] + (1.f - rho) * g[i] * g[i];
      float denom = vi;
      if constexpr (kCentered) {
        const float mgi = rho * mg[i] + (1.f - rho) * g[i];
        denom -= mgi * mgi;
        mg_out[i] = mgi;
        bad |= non_finite(mgi);
      }
      const float step = lr * g[i] / std::sqrt(std::max(denom, 0.f) + eps);
      float wi = w[i] * keep;
      if constexpr (kMomentum) {
        const float mi = mu * m[i] + step;
        wi -= mi;
        m_out[i] = mi;
      } else {
        wi -= step;
      }
      v_out[i] = vi, w_out[i] = wi;
      bad |= non_finite(vi) | non_finite(wi);  // an infinite m makes w infinite too
    }
    return bad == 0;
  }

  template <bool kCentered, bool kMomentum>
  static bool apply(const Rates& r, const Io& io, int threads) {
    return update_in_slices(io.n, threads, [&](int64_t lo, int64_t hi) {
      return apply_range<kCentered, kMomentum>(r, io, lo, hi);
    });
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
  if (auto adaptive = make_adaptive_optimizer(a)) return adaptive;
  throw ValueError(cat("unknown optimizer '", type, "'; expected one of 'sgd', 'adam', 'rmsprop', "
                       "'adagrad', 'adadelta', 'adamax', 'nadam', 'lion'"));
}

}  // namespace pyconv

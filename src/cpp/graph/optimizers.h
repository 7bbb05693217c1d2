// Optimizers with Keras 3 semantics (decoupled weight decay, Adam's bias
// correction folded into the learning rate).
#pragma once
#include <memory>
#include <vector>

#include "graph/attrs.h"
#include "graph/layer.h"

namespace pyconv {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every parameter from its gradient.
  void step(const std::vector<Param*>& params, int threads);

  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double lr) { learning_rate_ = lr; }
  int64_t iterations() const { return iterations_; }

 protected:
  // slots: this optimizer's per-parameter state, created zeroed on first use.
  virtual void update(Param& p, std::vector<Tensor>& slots, int threads) = 0;
  virtual int slot_count() const = 0;

  double learning_rate_ = 0.01;
  double weight_decay_ = 0.0;
  int64_t iterations_ = 0;

 private:
  std::vector<std::vector<Tensor>> slots_;
};

// {"type": "sgd", "learning_rate", "momentum", "nesterov", "weight_decay"} or
// {"type": "adam", "learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad",
// "weight_decay"} or {"type": "rmsprop", "learning_rate", "rho", "momentum",
// "epsilon", "centered", "weight_decay"}. Throws ValueError for unknown types or bad values.
std::unique_ptr<Optimizer> make_optimizer(const Attrs& attrs);

}  // namespace pyconv

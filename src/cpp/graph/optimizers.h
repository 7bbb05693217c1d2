// Optimizers with Keras 3 semantics (decoupled weight decay, Adam's bias
// correction folded into the learning rate).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "graph/attrs.h"
#include "graph/layer.h"

namespace pyconv {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  // One update of every trainable parameter from its gradient.
  void step(const std::vector<Param*>& params, int threads);
  // The index of the first trainable parameter whose next update would
  // leave a value (weight or slot) NaN or infinite, or -1; changes nothing.
  int first_unstable(const std::vector<Param*>& params, int threads);

  double learning_rate() const { return learning_rate_; }
  void set_learning_rate(double lr);  // ValueError unless finite and >= 0
  int64_t iterations() const { return iterations_; }
  void set_iterations(int64_t n) { iterations_ = n; }
  // The per-parameter state (moments, ...) for saving and loading: one list
  // per parameter, created zeroed for these params if not there yet.
  std::vector<std::vector<Tensor>>& slots(const std::vector<Param*>& params);
  // The slots as they are (empty before the first step).
  const std::vector<std::vector<Tensor>>& existing_slots() const { return slots_; }
  // Names of one parameter's slots, in order ("m", "v", ...).
  virtual std::vector<std::string> slot_names() const = 0;

 protected:
  // Updates p (weights and slots) for step t (1-based), after decoupled
  // weight decay scales the weights by keep. With store false it only
  // computes: true when every new value would be finite.
  virtual bool update(Param& p, std::vector<Tensor>& slots, int64_t t, float keep, bool store,
                      int threads) = 0;

  // The factor decoupled weight decay scales the weights by this step.
  float decay_keep() const;

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

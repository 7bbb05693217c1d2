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
  // One update of every trainable parameter from its gradient, all or
  // nothing: the new weights and slots are written beside the current ones
  // and take their place only if every new value is finite. Returns -1, or
  // the index of the first parameter whose update was not (then nothing
  // changed).
  int step(const std::vector<Param*>& params, int threads);
  // Clips the trainable parameters' gradients as configured (step does first).
  void clip(const std::vector<Param*>& params) const;

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
  // The value slot s starts from (Adagrad's accumulator: not 0).
  virtual float slot_initial_value(size_t) const { return 0.f; }

 protected:
  // Writes p's new weights into w_out and its new slots into slots_out for
  // step t (1-based), after decoupled weight decay scales the weights by
  // keep; reads p.value, p.grad and slots. True when every value written is
  // finite.
  virtual bool update(const Param& p, const std::vector<Tensor>& slots, int64_t t, float keep,
                      Tensor& w_out, std::vector<Tensor>& slots_out, int threads) = 0;

  // The factor decoupled weight decay scales the weights by this step.
  float decay_keep() const;
  // Reads "clipnorm", "clipvalue" and "global_clipnorm" (0: off).
  void read_clipping(const Attrs& a);

  double learning_rate_ = 0.01;
  double weight_decay_ = 0.0;
  double clipnorm_ = 0.0, clipvalue_ = 0.0, global_clipnorm_ = 0.0;
  int64_t iterations_ = 0;

 private:
  std::vector<std::vector<Tensor>> slots_;
  // Where a step writes before it is committed: per parameter, a weight
  // tensor and the slots.
  std::vector<Tensor> spare_values_;
  std::vector<std::vector<Tensor>> spare_slots_;
};

// {"type": "sgd", "learning_rate", "momentum", "nesterov", "weight_decay"} or
// {"type": "adam", "learning_rate", "beta_1", "beta_2", "epsilon", "amsgrad",
// "weight_decay"} or {"type": "rmsprop", "learning_rate", "rho", "momentum",
// "epsilon", "centered", "weight_decay"}, or one of make_adaptive_optimizer's;
// each also takes Keras's gradient
// clipping: "clipnorm", "clipvalue", "global_clipnorm". Throws ValueError for
// unknown types or bad values.
std::unique_ptr<Optimizer> make_optimizer(const Attrs& attrs);
// Adagrad, Adadelta, Adamax, Nadam and Lion (optimizers_adaptive.cpp), or
// null for another type.
std::unique_ptr<Optimizer> make_adaptive_optimizer(const Attrs& attrs);

}  // namespace pyconv

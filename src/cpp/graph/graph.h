// Graph: layers wired as a DAG (Sequential is the chain), with the loss and
// optimizer, so one call runs a whole training step. This is the C++ API that
// the Python bindings and embedding programs share.
#pragma once
#include <memory>
#include <vector>

#include "graph/attrs.h"
#include "graph/layer.h"
#include "graph/losses.h"
#include "graph/optimizers.h"

namespace pyconv {

struct StepResult {
  double loss = 0.0;    // mean over the batch
  int64_t correct = 0;  // samples predicted right ("accuracy" numerator)
};

class Graph {
 public:
  // A chain of layers for inputs of per-sample shape `input_shape`; weights
  // are initialised from `seed`. Throws ShapeError/ValueError naming a layer.
  Graph(const std::vector<Attrs>& layers, const Shape& input_shape, uint64_t seed);

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return nodes_.back().shape; }
  size_t size() const { return nodes_.size(); }
  Layer& layer(size_t i) { return *nodes_.at(i).layer; }
  const Shape& layer_output_shape(size_t i) const { return nodes_.at(i).shape; }

  void compile(const Attrs& loss, const Attrs& optimizer);
  // Checks a whole target array against the loss (shape, label values), so
  // bad labels are reported before any weight changes.
  void check_targets(const Tensor& y) const;
  bool compiled() const { return loss_ != nullptr; }
  Optimizer& optimizer();
  void set_num_threads(int n) { threads_ = n; }

  // x: (N,) + input shape; y: the targets the loss expects.
  StepResult train_step(const Tensor& x, const Tensor& y);
  StepResult test_step(const Tensor& x, const Tensor& y);
  // out is resized to (N,) + output shape.
  void predict(const Tensor& x, Tensor& out);

  // Lower-level steps for tests and custom loops. forward keeps a pointer to
  // x, which must stay alive until backward. backward takes d(loss)/d(output)
  // (may be overwritten) and fills every param grad and, if non-null, dx.
  const Tensor& forward(const Tensor& x, bool training);
  // The output of the last forward().
  const Tensor& output() const { return nodes_.back().out; }
  void backward(Tensor& dout, Tensor* dx);

 private:
  struct Node {
    std::unique_ptr<Layer> layer;
    std::vector<int> inputs;  // node indices; -1 is the graph input
    Shape shape;              // per-sample output shape
    Tensor out, grad;
  };

  void check_input(const Tensor& x) const;
  StepResult evaluate(const Tensor& x, const Tensor& y, bool training);
  RunContext context(bool training) const;

  std::vector<Node> nodes_;
  Shape input_shape_;
  const Tensor* input_ = nullptr;
  bool last_training_ = false;  // backward replays the forward's mode (dropout)
  std::unique_ptr<Loss> loss_;
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<Param*> params_;
  bool fused_softmax_ = false;  // the last layer's softmax runs inside the loss
  int threads_ = 0;             // 0: the global setting
  uint64_t step_ = 0;
};

}  // namespace pyconv

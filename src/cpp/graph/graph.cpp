#include "graph/graph.h"

#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/threads.h"

namespace pyconv {

namespace {
// Index of the first NaN or inf, or -1. The common all-finite case is one
// pass counting values whose exponent bits are all ones (inf and NaN only):
// integer compares and adds, which compilers vectorise (a float probe sum
// would have to keep its order), shared among the threads when large.
int64_t first_non_finite(const float* p, int64_t n) {
  constexpr uint32_t kExponent = 0x7f800000u;
  int64_t count = 0;
  const int threads = threads_for(n / 4, num_threads());
#pragma omp parallel for reduction(+ : count) num_threads(threads) if (threads > 1)
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    count += (bits & kExponent) == kExponent;
  }
  if (count == 0) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (!std::isfinite(p[i])) return i;
  return -1;
}
}  // namespace

Graph::Graph(const std::vector<Attrs>& layers, const Shape& input_shape, uint64_t seed)
    : input_shape_(input_shape) {
  if (layers.empty()) throw ValueError("a model needs at least one layer");
  for (int64_t d : input_shape)
    if (d <= 0)
      throw ShapeError(cat("expected a positive input shape, received ", shape_str(input_shape)));
  Rng rng(seed);
  Shape shape = input_shape;
  for (size_t i = 0; i < layers.size(); ++i) {
    Node node;
    node.layer = create_layer(layers[i]);
    node.inputs = {static_cast<int>(i) - 1};
    node.shape = node.layer->build({shape}, &rng);
    shape = node.shape;
    for (Param& p : node.layer->params()) params_.push_back(&p);
    nodes_.push_back(std::move(node));
  }
}

void Graph::compile(const Attrs& loss, const Attrs& optimizer) {
  auto new_loss = make_loss(loss);
  auto new_optimizer = make_optimizer(optimizer);
  Layer& last = *nodes_.back().layer;
  fused_softmax_ = new_loss->can_fuse_softmax() && last.activation() == ops::Activation::Softmax;
  if (fused_softmax_) new_loss->use_logits();
  last.set_defer_activation(fused_softmax_);
  loss_ = std::move(new_loss);
  optimizer_ = std::move(new_optimizer);
}

void Graph::check_targets(const Tensor& y) const {
  if (!loss_) throw StateError("the model must be compiled first: call compile(optimizer, loss)");
  loss_->check_target(with_batch(y.ndim() ? y.dim(0) : 0, output_shape()), y);
}

Optimizer& Graph::optimizer() {
  if (!optimizer_) throw StateError("the model has no optimizer: call compile() first");
  return *optimizer_;
}

RunContext Graph::context(bool training) const {
  RunContext ctx;
  ctx.threads = threads_ > 0 ? threads_ : num_threads();
  ctx.training = training;
  ctx.step = step_;
  return ctx;
}

void Graph::check_input(const Tensor& x) const {
  Shape sample(x.shape().begin() + (x.ndim() ? 1 : 0), x.shape().end());
  if (x.ndim() == 0 || sample != input_shape_)
    throw ShapeError(cat(nodes_.front().layer->who(), ": expected input of shape ",
                         batch_shape_str(input_shape_), ", received ", shape_str(x.shape())));
  if (x.dim(0) == 0) throw ValueError("expected at least one sample, received an empty batch");
  if (const int64_t i = first_non_finite(x.data(), x.numel()); i >= 0)
    throw ValueError(cat("expected finite input values, found ", x.data()[i], " at flat index ", i));
}

const Tensor& Graph::forward(const Tensor& x, bool training) {
  check_input(x);
  input_ = &x;
  last_training_ = training;
  const RunContext ctx = context(training);
  for (Node& node : nodes_) {
    std::vector<const Tensor*> in;
    for (int i : node.inputs) in.push_back(i < 0 ? &x : &nodes_[i].out);
    node.out.resize(with_batch(x.dim(0), node.shape));
    node.layer->forward(in, node.out, ctx);
  }
  return nodes_.back().out;
}

void Graph::backward(Tensor& dout, Tensor* dx) {
  if (!input_) throw StateError("backward() needs a forward() first");
  const RunContext ctx = context(last_training_);
  Tensor* grad = &dout;
  for (size_t k = nodes_.size(); k-- > 0;) {
    Node& node = nodes_[k];
    std::vector<const Tensor*> in;
    std::vector<Tensor*> din;
    for (int i : node.inputs) {
      in.push_back(i < 0 ? input_ : &nodes_[i].out);
      if (i < 0) {
        if (dx) dx->resize(input_->shape());
        din.push_back(dx);
      } else {
        nodes_[i].grad.resize(nodes_[i].out.shape());
        din.push_back(&nodes_[i].grad);
      }
    }
    node.layer->backward(in, node.out, *grad, din, ctx);
    if (k > 0) grad = &nodes_[k - 1].grad;
  }
}

StepResult Graph::evaluate(const Tensor& x, const Tensor& y, bool training) {
  if (!loss_) throw StateError("the model must be compiled before training or evaluation: "
                               "call compile(optimizer, loss) first");
  const Tensor& pred = forward(x, training);
  if (y.ndim() == 0 || y.dim(0) != x.dim(0))
    throw ShapeError(cat("expected as many targets as inputs (", x.dim(0), "), received ",
                         y.ndim() ? y.dim(0) : 0));
  if (const int64_t i = first_non_finite(y.data(), y.numel()); i >= 0)
    throw ValueError(cat("expected finite target values, found ", y.data()[i], " at index ", i));
  Node& last = nodes_.back();
  StepResult r;
  if (training) {
    last.grad.resize(last.out.shape());
    r.loss = loss_->compute(pred, y, &last.grad);
  } else {
    r.loss = loss_->compute(pred, y, nullptr);
  }
  r.correct = loss_->count_correct(pred, y);
  return r;
}

StepResult Graph::train_step(const Tensor& x, const Tensor& y) {
  StepResult r = evaluate(x, y, true);
  if (!std::isfinite(r.loss))
    throw ValueError(cat("the loss is ", r.loss, "; the weights were not updated (lower the "
                         "learning rate or check the data)"));
  backward(nodes_.back().grad, nullptr);
  optimizer_->step(params_, context(true).threads);
  ++step_;
  return r;
}

StepResult Graph::test_step(const Tensor& x, const Tensor& y) { return evaluate(x, y, false); }

void Graph::predict(const Tensor& x, Tensor& out) {
  const Tensor& y = forward(x, false);
  out.resize(y.shape());
  std::memcpy(out.data(), y.data(), sizeof(float) * y.numel());
  if (fused_softmax_) {
    const int64_t cols = out.dim(-1);
    ops::activation_forward(ops::Activation::Softmax, out.data(), out.numel() / cols, cols,
                            context(false).threads);
  }
}

}  // namespace pyconv

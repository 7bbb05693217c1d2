#include "graph/graph.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "core/error.h"
#include "core/finite.h"
#include "core/threads.h"

namespace pyconv {

namespace {
// A context that held more than this after a call gives its buffers back:
// one huge batch must not keep gigabytes for the model's lifetime.
constexpr size_t kRetainBytes = size_t{256} << 20;
// Idle inference contexts kept for reuse.
constexpr size_t kMaxPooled = 8;

std::vector<NodeSpec> chain(const std::vector<Attrs>& layers) {
  std::vector<NodeSpec> specs;
  for (size_t i = 0; i < layers.size(); ++i) specs.push_back({layers[i], {static_cast<int>(i) - 1}});
  return specs;
}
}  // namespace

// ----- ExecContext ---------------------------------------------------------------

size_t ExecContext::held_bytes() const {
  size_t n = 0;
  for (const NodeRun& r : nodes_) {
    n += r.out.held_bytes() + r.grad.held_bytes();
    if (r.state) n += r.state->bytes() + r.state->pre_activation.held_bytes();
  }
  return n;
}

void ExecContext::release() {
  for (NodeRun& r : nodes_) {
    r.out = Tensor();
    r.grad = Tensor();
    if (r.state) {
      r.state->release();
      r.state->pre_activation = Tensor();
    }
  }
  input_ = nullptr;
}

// ----- building --------------------------------------------------------------------

class Graph::TrainingScope {
 public:
  explicit TrainingScope(Graph& g) : g_(g) { g_.begin_training(); }
  ~TrainingScope() { g_.end_training(); }
  TrainingScope(const TrainingScope&) = delete;
  TrainingScope& operator=(const TrainingScope&) = delete;

 private:
  Graph& g_;
};

Graph::Graph(const std::vector<Attrs>& layers, const Shape& input_shape, uint64_t seed)
    : input_shape_(input_shape) {
  build(chain(layers), seed);
}

Graph::Graph(const std::vector<NodeSpec>& nodes, const Shape& input_shape, uint64_t seed)
    : input_shape_(input_shape) {
  build(nodes, seed);
}

Graph::~Graph() = default;

void Graph::build(const std::vector<NodeSpec>& specs, uint64_t seed) {
  if (specs.empty()) throw ValueError("a model needs at least one layer");
  for (int64_t d : input_shape_)
    if (d <= 0)
      throw ShapeError(cat("expected a positive input shape, received ", shape_str(input_shape_)));
  Rng rng(seed);
  std::vector<std::string> names;
  for (size_t k = 0; k < specs.size(); ++k) {
    // Every layer has a unique name: a saved model keys its tensors by it.
    Attrs attrs = specs[k].attrs;
    if (!attrs.has("name")) attrs.set("name", cat(attrs.type(), "_", k));
    for (const std::string& taken : names)
      if (taken == attrs.name())
        throw ValueError(cat("layer names must be unique; '", taken, "' is used twice"));
    names.push_back(attrs.name());
    Node node;
    node.layer = create_layer(attrs);
    if (specs[k].inputs.empty())
      throw ValueError(cat(node.layer->who(), ": a node needs at least one input"));
    std::vector<Shape> in;
    for (int i : specs[k].inputs) {
      if (i < -1 || i >= static_cast<int>(k))
        throw ValueError(cat(node.layer->who(), ": input ", i, " is not the model input (-1) or "
                             "an earlier node (0..", static_cast<int>(k) - 1,
                             "); nodes must be in topological order"));
      in.push_back(i < 0 ? input_shape_ : nodes_[i].shape);
    }
    node.inputs = specs[k].inputs;
    node.shape = node.layer->build(in, &rng);
    nodes_.push_back(std::move(node));
  }
  for (Node& node : nodes_)
    for (Param& p : node.layer->params())
      if (!p.is_state) {
        params_.push_back(&p);
        param_layer_.push_back(node.layer.get());
      }
}

void Graph::compile(const Attrs& loss, const Attrs& optimizer) {
  auto new_loss = make_loss(loss);
  new_loss->check_output(nodes_.back().shape);
  auto new_optimizer = make_optimizer(optimizer);
  if (trained_by_other_thread())
    throw StateError("cannot compile a model while another thread trains it");
  std::unique_lock<SharedMutex> lock(weights_);
  Layer& last = *nodes_.back().layer;
  const ops::Activation fusable = new_loss->fusable_activation();
  const bool fused = fusable != ops::Activation::Linear && last.activation() == fusable;
  fused_activation_ = fused ? fusable : ops::Activation::Linear;
  if (fused) new_loss->use_logits();
  last.set_defer_activation(fused);
  loss_ = std::move(new_loss);
  optimizer_ = std::move(new_optimizer);
  loss_attrs_ = loss;
  optimizer_attrs_ = optimizer;
}

void Graph::check_targets(const Tensor& y) const {
  if (!loss_) throw StateError("the model must be compiled first: call compile(optimizer, loss)");
  loss_->check_target(with_batch(y.ndim() ? y.dim(0) : 0, output_shape()), y);
}

Optimizer& Graph::optimizer() {
  if (!optimizer_) throw StateError("the model has no optimizer: call compile() first");
  return *optimizer_;
}

RunContext Graph::run_context(bool training) const {
  RunContext ctx;
  ctx.threads = threads_ > 0 && !in_forked_child() ? threads_ : num_threads();
  ctx.training = training;
  ctx.step = step_;
  return ctx;
}

// ----- running ---------------------------------------------------------------------

void Graph::check_input(const Tensor& x) const {
  const Shape& s = x.shape();
  if (s.size() != input_shape_.size() + 1 ||
      !std::equal(input_shape_.begin(), input_shape_.end(), s.begin() + 1))
    throw ShapeError(cat(nodes_.front().layer->who(), ": expected input of shape ",
                         batch_shape_str(input_shape_), ", received ", shape_str(x.shape())));
  if (x.dim(0) == 0) throw ValueError("expected at least one sample, received an empty batch");
  if (const int64_t i = first_non_finite(x.data(), x.numel(), num_threads()); i >= 0)
    throw ValueError(cat("expected finite input values, found ", x.data()[i], " at flat index ", i));
}

void Graph::prepare(ExecContext& c) const {
  if (c.model_ == this && c.nodes_.size() == nodes_.size()) return;
  c.nodes_.clear();
  c.nodes_.resize(nodes_.size());
  for (size_t k = 0; k < nodes_.size(); ++k) {
    ExecContext::NodeRun& run = c.nodes_[k];
    run.state = nodes_[k].layer->new_state();
    if (!run.state) run.state = std::make_unique<LayerState>();
    run.in.resize(nodes_[k].inputs.size());
    run.out_shape = with_batch(0, nodes_[k].shape);
  }
  c.model_ = this;
  c.input_ = nullptr;
}

const Tensor& Graph::run_forward(const Tensor& x, bool training, ExecContext& c) const {
  check_input(x);
  prepare(c);
  c.input_ = nullptr;  // set again once this forward has succeeded
  RunContext rc = run_context(training);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const Node& node = nodes_[k];
    ExecContext::NodeRun& run = c.nodes_[k];
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int i = node.inputs[j];
      run.in[j] = i < 0 ? &x : &c.nodes_[i].out;
    }
    run.out_shape[0] = x.dim(0);
    run.out.resize(run.out_shape);
    rc.state = run.state.get();
    node.layer->forward(run.in, run.out, rc);
  }
  c.input_ = &x;
  c.training_ = training;
  c.step_ = step_;
  return c.nodes_.back().out;
}

void Graph::run_backward(Tensor& dout, Tensor* dx, ExecContext& c) {
  if (!c.input_ || c.model_ != this) throw StateError("backward() needs a forward() first");
  for (Param* p : params_) p->grad.resize(p->value.shape());  // allocated on first use
  RunContext rc = run_context(c.training_);
  rc.step = c.step_;  // replay the forward's dropout masks
  const size_t last = nodes_.size() - 1;
  for (ExecContext::NodeRun& r : c.nodes_) r.grad_ready = false;
  c.nodes_[last].grad_ready = true;
  bool dx_ready = false;
  std::vector<Tensor> parts;  // second and later shares of one gradient
  for (size_t k = nodes_.size(); k-- > 0;) {
    Node& node = nodes_[k];
    ExecContext::NodeRun& run = c.nodes_[k];
    if (!run.grad_ready) {  // nothing the output depends on flows through here
      for (Param& p : node.layer->params())
        if (!p.is_state) p.grad.zero();
      continue;
    }
    std::vector<const Tensor*> in;
    std::vector<Tensor*> din;
    std::vector<std::pair<Tensor*, size_t>> sums;  // (gradient, part) to add after
    parts.clear();
    parts.reserve(node.inputs.size());
    for (int i : node.inputs) {
      in.push_back(i < 0 ? c.input_ : &c.nodes_[i].out);
      Tensor* target = i < 0 ? dx : &c.nodes_[i].grad;
      bool& ready = i < 0 ? dx_ready : c.nodes_[i].grad_ready;
      if (!target) {
        din.push_back(nullptr);
      } else if (!ready) {
        target->resize(in.back()->shape());
        ready = true;
        din.push_back(target);
      } else {  // a tensor that feeds several nodes: gradients are summed
        parts.emplace_back(in.back()->shape());
        sums.emplace_back(target, parts.size() - 1);
        din.push_back(&parts.back());
      }
    }
    rc.state = run.state.get();
    node.layer->backward(in, run.out, k == last ? dout : run.grad, din, rc);
    for (auto& [target, part] : sums) {
      float* t = target->data();
      const float* p = parts[part].data();
      const int64_t n = target->numel();
#pragma omp simd
      for (int64_t j = 0; j < n; ++j) t[j] += p[j];
    }
  }
  if (dx && !dx_ready) dx->zero();
}

void Graph::finish_output(const Tensor& y, Tensor& out, int threads) const {
  out.resize(y.shape());
  copy_floats(out.data(), y.data(), y.numel());
  if (fused_activation_ != ops::Activation::Linear) {
    const int64_t cols = out.dim(-1);
    ops::activation_forward(fused_activation_, out.data(), out.numel() / cols, cols, threads);
  }
}

std::unique_ptr<ExecContext> Graph::new_context() const {
  auto c = std::make_unique<ExecContext>();
  prepare(*c);
  return c;
}

void Graph::predict(const Tensor& x, Tensor& out, ExecContext& ctx) const {
  std::shared_lock<SharedMutex> lock(weights_);
  const Tensor& y = run_forward(x, false, ctx);
  finish_output(y, out, run_context(false).threads);
}

void Graph::prepare_inference() const {
  std::shared_lock<SharedMutex> lock(weights_);
  for (const Node& node : nodes_) node.layer->prepare_inference();
}

// A context borrowed from the model's pool for one call, returned (its
// memory given back if a huge batch grew it) however the call ends.
class Graph::PooledContext {
 public:
  explicit PooledContext(const Graph& g) : g_(g) {
    {
      std::lock_guard<std::mutex> lock(g_.pool_mutex_);
      if (!g_.pool_.empty()) {
        c_ = std::move(g_.pool_.back());
        g_.pool_.pop_back();
      }
    }
    if (!c_) c_ = g_.new_context();
  }

  ~PooledContext() {
    if (c_->held_bytes() > kRetainBytes) c_->release();
    c_->input_ = nullptr;
    std::lock_guard<std::mutex> lock(g_.pool_mutex_);
    if (g_.pool_.size() < kMaxPooled) g_.pool_.push_back(std::move(c_));
  }

  PooledContext(const PooledContext&) = delete;
  PooledContext& operator=(const PooledContext&) = delete;
  ExecContext& operator*() { return *c_; }

 private:
  const Graph& g_;
  std::unique_ptr<ExecContext> c_;
};

void Graph::predict(const Tensor& x, Tensor& out) const {
  PooledContext c(*this);
  predict(x, out, *c);
}

std::vector<Tensor> Graph::node_outputs(const Tensor& x, const std::vector<size_t>& which) const {
  for (size_t i : which)
    if (i >= nodes_.size())
      throw ValueError(cat("node_outputs: node ", i, " is out of range (the graph has ",
                           nodes_.size(), ")"));
  PooledContext c(*this);
  std::shared_lock<SharedMutex> lock(weights_);
  run_forward(x, false, *c);
  std::vector<Tensor> outs;
  for (size_t i : which) outs.push_back((*c).nodes_[i].out.clone());
  return outs;
}

StepResult Graph::evaluate(const Tensor& x, const Tensor& y, bool training,
                           ExecContext& c) const {
  if (!loss_) throw StateError("the model must be compiled before training or evaluation: "
                               "call compile(optimizer, loss) first");
  const Tensor& pred = run_forward(x, training, c);
  if (y.ndim() == 0 || y.dim(0) != x.dim(0))
    throw ShapeError(cat("expected as many targets as inputs (", x.dim(0), "), received ",
                         y.ndim() ? y.dim(0) : 0));
  if (const int64_t i = first_non_finite(y.data(), y.numel(), num_threads()); i >= 0)
    throw ValueError(cat("expected finite target values, found ", y.data()[i], " at index ", i));
  StepResult r;
  if (training) {
    Tensor& grad = c.nodes_.back().grad;
    grad.resize(pred.shape());
    r.loss = loss_->compute(pred, y, &grad);
  } else {
    r.loss = loss_->compute(pred, y, nullptr);
  }
  r.loss += penalty();
  r.correct = loss_->count_correct(pred, y);
  return r;
}

double Graph::penalty() const {
  double total = 0.0;
  for (const Param* p : params_) {
    if (p->l1 == 0.f && p->l2 == 0.f) continue;
    double l1 = 0.0, l2 = 0.0;
    for (int64_t i = 0; i < p->value.numel(); ++i) {
      const double w = p->value.data()[i];
      l1 += std::fabs(w), l2 += w * w;
    }
    total += p->l1 * l1 + p->l2 * l2;
  }
  return total;
}

void Graph::add_penalty_grads() {
  for (Param* p : params_) {
    if ((p->l1 == 0.f && p->l2 == 0.f) || !p->trainable) continue;
    const float* w = p->value.data();
    float* g = p->grad.data();
    for (int64_t i = 0; i < p->value.numel(); ++i) {
      const float sign = w[i] > 0.f ? 1.f : (w[i] < 0.f ? -1.f : 0.f);
      g[i] += p->l1 * sign + 2.f * p->l2 * w[i];
    }
  }
}

StepResult Graph::test_step(const Tensor& x, const Tensor& y) const {
  PooledContext c(*this);
  std::shared_lock<SharedMutex> lock(weights_);
  return evaluate(x, y, false, *c);
}

// ----- training ----------------------------------------------------------------------

void Graph::begin_training() {
  std::lock_guard<std::mutex> lock(trainer_mutex_);
  const std::thread::id me = std::this_thread::get_id();
  if (trainer_depth_ > 0 && trainer_ != me)
    throw StateError("this model is being trained in another thread; a model trains in one "
                     "thread at a time (predict and evaluate may run alongside)");
  trainer_ = me;
  ++trainer_depth_;
}

void Graph::end_training() {
  std::lock_guard<std::mutex> lock(trainer_mutex_);
  if (trainer_depth_ == 0 || trainer_ != std::this_thread::get_id()) return;
  if (--trainer_depth_ == 0) {
    trainer_ = std::thread::id();
    if (train_ctx_.held_bytes() > kRetainBytes) train_ctx_.release();
  }
}

bool Graph::trained_by_other_thread() const {
  std::lock_guard<std::mutex> lock(trainer_mutex_);
  return trainer_depth_ > 0 && trainer_ != std::this_thread::get_id();
}

void Graph::update_weights() {
  const int bad = optimizer_->step(params_, run_context(true).threads);
  if (bad < 0) return;
  const Param& p = *params_[bad];
  const char* why = first_non_finite(p.grad.data(), p.grad.numel(), num_threads()) >= 0
                        ? "' has a NaN or infinite gradient"
                        : "' would become NaN or infinite";
  throw ValueError(cat(param_layer_[bad]->who(), ": weight '", p.name, why,
                       "; the weights were not updated. Scale the inputs to a smaller range or "
                       "lower the learning rate"));
}

void Graph::own_weights() {
  for (Node& node : nodes_)
    for (Param& p : node.layer->params())
      if (p.value.is_view()) p.value = p.value.clone();
}

StepResult Graph::train_step(const Tensor& x, const Tensor& y) {
  TrainingScope scope(*this);
  std::unique_lock<SharedMutex> lock(weights_);
  own_weights();
  StepResult r = evaluate(x, y, true, train_ctx_);
  if (!std::isfinite(r.loss))
    throw ValueError(cat("the loss is ", r.loss, "; the weights were not updated (lower the "
                         "learning rate or check the data)"));
  run_backward(train_ctx_.nodes_.back().grad, nullptr, train_ctx_);
  add_penalty_grads();
  update_weights();
  ++step_;
  return r;
}

void Graph::set_weights(size_t layer_index, const std::vector<const float*>& values) {
  set_weights({{layer_index, values}});
}

void Graph::set_weights(
    const std::vector<std::pair<size_t, std::vector<const float*>>>& layers) {
  for (const auto& [index, values] : layers) {
    const Layer& l = layer(index);
    const std::vector<Param>& params = l.params();
    if (values.size() != params.size())
      throw ValueError(cat(l.who(), ": expected ", params.size(), " weight arrays, received ",
                           values.size()));
    for (size_t i = 0; i < params.size(); ++i)
      if (const int64_t j = first_non_finite(values[i], params[i].value.numel(), num_threads());
          j >= 0)
        throw ValueError(cat(l.who(), ": expected finite values for weight ", i, " ('",
                             params[i].name, "'), found ", values[i][j], " at flat index ", j,
                             "; no weights were changed"));
  }
  if (trained_by_other_thread())
    throw StateError("cannot set weights while another thread trains the model");
  std::unique_lock<SharedMutex> lock(weights_);
  own_weights();
  for (const auto& [index, values] : layers) {
    std::vector<Param>& params = layer(index).params();
    for (size_t i = 0; i < params.size(); ++i) {
      copy_floats(params[i].value.data(), values[i], params[i].value.numel());
      ++params[i].version;
    }
  }
}

std::vector<Tensor> Graph::get_weights(size_t layer_index) const {
  const Layer& l = layer(layer_index);
  std::shared_lock<SharedMutex> lock(weights_);
  std::vector<Tensor> out;
  for (const Param& p : l.params()) out.push_back(p.value.clone());
  return out;
}

void Graph::set_trainable(size_t layer_index, bool trainable) {
  Layer& l = layer(layer_index);
  if (trained_by_other_thread())
    throw StateError(cat(l.who(), ": cannot change trainable while another thread trains the model"));
  std::unique_lock<SharedMutex> lock(weights_);
  l.set_trainable(trainable);
}

const Tensor& Graph::forward(const Tensor& x, bool training) {
  if (trained_by_other_thread())
    throw StateError("cannot run forward() while another thread trains the model");
  std::unique_lock<SharedMutex> lock(weights_);
  return run_forward(x, training, train_ctx_);
}

const Tensor& Graph::output() const {
  if (train_ctx_.nodes_.empty()) throw StateError("output() needs a forward() first");
  return train_ctx_.nodes_.back().out;
}

void Graph::backward(Tensor& dout, Tensor* dx) {
  if (trained_by_other_thread())
    throw StateError("cannot run backward() while another thread trains the model");
  std::unique_lock<SharedMutex> lock(weights_);
  run_backward(dout, dx, train_ctx_);
}

size_t Graph::held_bytes() const {
  std::shared_lock<SharedMutex> weights(weights_);  // no step is growing train_ctx_
  size_t n = train_ctx_.held_bytes();
  std::lock_guard<std::mutex> lock(pool_mutex_);
  for (const auto& c : pool_) n += c->held_bytes();
  return n;
}

}  // namespace pyconv

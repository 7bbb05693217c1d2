#include "graph/graph.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <numeric>

#include "core/checked.h"
#include "core/denormals.h"
#include "core/error.h"
#include "core/finite.h"
#include "core/threads.h"
#include "core/training.h"
#include "graph/batchnorm_fold.h"
#include "graph/layers/built.h"
#include "graph/layers/pool_args.h"
#include "graph/metrics.h"
#include "graph/buffer_plan.h"

namespace pyconv {

namespace {
// A context that held more than this after a call gives its buffers back:
// one huge batch must not keep gigabytes for the model's lifetime. Training
// keeps every activation and gradient of a step (ResNet-20 at batch 64 needs
// 260 MiB), and freeing that after each train_on_batch would allocate it
// again every step, so its context keeps more.
constexpr size_t kRetainBytes = size_t{256} << 20;
constexpr size_t kRetainTrainingBytes = size_t{1} << 30;
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
  for (const Tensor& t : slots_) n += t.held_bytes();
  for (const Tensor& t : train_slots_) n += t.held_bytes();
  for (const Tensor& t : grad_parts_) n += t.held_bytes();
  for (const NodeRun& r : nodes_) {
    n += r.out.held_bytes() + r.grad.held_bytes();
    if (r.state) n += r.state->bytes() + r.state->pre_activation.held_bytes();
  }
  return n;
}

void ExecContext::release() {
  slots_.clear();
  train_slots_.clear();
  grad_parts_.clear();
  for (NodeRun& r : nodes_) {
    r.out = Tensor();
    r.grad = Tensor();
    if (r.state) {
      r.state->release();
      r.state->pre_activation = Tensor();
    }
  }
  inputs_.clear();
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
    : input_shapes_{input_shape} {
  build(chain(layers), {static_cast<int>(layers.size()) - 1}, seed);
}

Graph::Graph(const std::vector<NodeSpec>& nodes, const Shape& input_shape, uint64_t seed)
    : input_shapes_{input_shape} {
  build(nodes, {static_cast<int>(nodes.size()) - 1}, seed);
}

Graph::Graph(const std::vector<NodeSpec>& nodes, const std::vector<Shape>& input_shapes,
             const std::vector<int>& outputs, uint64_t seed)
    : input_shapes_(input_shapes) {
  build(nodes, outputs, seed);
}

Graph::~Graph() = default;

void Graph::build(const std::vector<NodeSpec>& specs, const std::vector<int>& outputs,
                  uint64_t seed) {
  if (specs.empty()) throw ValueError("a model needs at least one layer");
  if (input_shapes_.empty()) throw ValueError("a model needs at least one input");
  for (const Shape& s : input_shapes_)
    for (int64_t d : s)
      if (d <= 0)
        throw ShapeError(cat("expected a positive input shape, received ", shape_str(s)));
  Rng rng(seed);
  for (const NodeSpec& spec : specs) add_node(spec, rng);
  if (outputs.empty()) throw ValueError("a model needs at least one output");
  for (size_t j = 0; j < outputs.size(); ++j) {
    if (outputs[j] < 0 || static_cast<size_t>(outputs[j]) >= nodes_.size())
      throw ValueError(cat("output ", j, " is node ", outputs[j], "; the model has ",
                           nodes_.size(), " nodes"));
    for (size_t i = 0; i < j; ++i)
      if (outputs[i] == outputs[j])
        throw ValueError(cat(layer(outputs[j]).who(), " is given as an output twice"));
  }
  outputs_ = outputs;
  std::vector<bool> input_used(input_shapes_.size(), false);
  for (const Node& node : nodes_) {
    ++nodes_[node.owner].calls;
    for (int i : node.inputs) {
      if (i >= 0) ++nodes_[i].readers;
      else input_used[-1 - i] = true;
    }
  }
  for (size_t i = 0; i < input_used.size(); ++i)
    if (!input_used[i])
      throw ValueError(cat("model input ", i, " is not used by any layer (a disconnected input)"));
  for (Node& node : nodes_)
    if (node.layer)
      for (Param& p : node.layer->params())
        if (!p.is_state) {
          params_.push_back(&p);
          param_layer_.push_back(node.layer.get());
        }
  find_folds();
  find_pool_fusions();
  find_input_checker();
  find_row_ops();
  profile_.resize(nodes_.size());
  plan_inference_buffers();
  plan_training_buffers();
}

void Graph::plan_inference_buffers() {
  const size_t n = nodes_.size();
  // Step k runs node k, which writes node dest(k)'s output (a fold writes
  // its last, a pool fusion its pooling's).
  std::vector<Lifetime> lives(n);
  std::vector<int64_t> values(n);
  for (size_t k = 0; k < n; ++k) {
    values[k] = shape_numel(nodes_[k].shape);
    const int role = fold_role_[k], pool_role = pool_role_[k];
    if (role == kFoldedAway || pool_role == kFoldedAway) continue;
    const size_t d = role >= 0        ? folds_[role]->last
                     : pool_role >= 0 ? pool_fusions_[pool_role].pool_node
                                      : k;
    lives[d] = {true, k, std::max(lives[d].last, k)};  // written, read by nobody yet
    for (int i : nodes_[k].inputs)
      if (i >= 0) lives[i].last = std::max(lives[i].last, k);
  }
  for (int o : outputs_) lives[o].last = SIZE_MAX;  // returned to the caller
  BufferPlan plan = plan_buffers(lives, values);
  infer_slot_ = std::move(plan.slot);
  slot_values_ = std::move(plan.slot_values);
}

void Graph::plan_training_buffers() {
  if (!kTrainingBuilt) return;  // a runtime has no training step to plan
  // Forward step k runs node k; backward step n + t runs node n - 1 - t.
  // Buffer k is node k's output, buffer n + k its output gradient.
  const size_t n = nodes_.size();
  auto backward_step = [n](size_t k) { return 2 * n - 1 - k; };
  std::vector<Lifetime> lives(2 * n);
  std::vector<int64_t> values(2 * n);
  // A pool fusion's layer (step k) writes its pooling's output (node k + 1),
  // whose backward step runs the layer's backward: the layer's own output
  // and gradient are never written, and its inputs' gradients are written a
  // step sooner.
  for (size_t k = 0; k < n; ++k) {
    values[k] = values[n + k] = shape_numel(nodes_[k].shape);
    if (pool_role_[k] >= 0) {
      for (int i : nodes_[k].inputs)
        if (i >= 0) lives[i].last = std::max(lives[i].last, backward_step(k));
      continue;
    }
    if (pool_role_[k] == kFoldedAway) {  // read by the fused backward
      lives[k] = {true, k - 1, backward_step(k)};
      continue;
    }
    const Layer::BackwardReads reads = layer(k).backward_reads();
    // An activity regularizer's gradient reads the output at the node's backward.
    const bool keep = reads.output || layer(k).regularizes_activity();
    lives[k] = {true, k, keep ? backward_step(k) : k};
    for (int i : nodes_[k].inputs)
      if (i >= 0) lives[i].last = std::max(lives[i].last, reads.inputs ? backward_step(k) : k);
  }
  // A gradient is first written by the backward of its node's last reader
  // (the first met going back), last read by its node's own backward.
  for (size_t k = n; k-- > 0;) {
    if (pool_role_[k] == kFoldedAway) continue;
    const size_t step = backward_step(pool_role_[k] >= 0 ? k + 1 : k);
    for (int i : nodes_[k].inputs)
      if (i >= 0 && !lives[n + i].used) lives[n + i] = {true, step, backward_step(i)};
  }
  std::vector<bool> is_output(n, false);
  for (int o : outputs_) {
    is_output[o] = true;
    lives[o].last = SIZE_MAX;                        // the loss and the caller read it
    lives[n + o] = {true, n - 1, backward_step(o)};  // the loss writes it after step n - 1
  }
  // A backward in place writes its first input's gradient over its
  // output's, when it is the first to write it: the two buffers become one,
  // held from the output gradient's first step to the input gradient's last
  // (a chain of such layers shares one buffer).
  std::vector<size_t> joined(2 * n);  // per buffer: the buffer whose slot it takes
  std::iota(joined.begin(), joined.end(), size_t{0});
  for (size_t k = n; k-- > 0;) {
    const std::vector<int>& inputs = nodes_[k].inputs;
    if (inputs.empty() || inputs[0] < 0 || pool_role_[k] != kNoFold || is_output[k] ||
        !layer(k).backward_reads().in_place)
      continue;
    const size_t i = static_cast<size_t>(inputs[0]), into = joined[n + k], from = n + i;
    if (is_output[i] || pool_role_[i] >= 0 || !lives[into].used || !lives[from].used ||
        lives[from].first != backward_step(k) || values[from] != values[into])
      continue;
    lives[into].last = lives[from].last;
    lives[from].used = false;
    joined[from] = into;
  }
  BufferPlan plan = plan_buffers(lives, values);
  for (size_t b = 0; b < joined.size(); ++b) plan.slot[b] = plan.slot[joined[b]];
  train_slot_ = std::move(plan.slot);
  train_slot_values_ = std::move(plan.slot_values);
}

Tensor& Graph::gradient_buffer(ExecContext& c, size_t k) const {
  ExecContext::NodeRun& run = c.nodes_[k];
  run.grad.view_of(c.train_slots_.at(train_slot_.at(nodes_.size() + k)).data(), run.out.shape());
  return run.grad;
}

namespace {
// Grows each slot to hold `batch` samples of its planned size (a smaller
// batch fits in what a larger one left).
void grow_slots(std::vector<Tensor>& slots, const std::vector<int64_t>& values, int64_t batch,
                const char* what) {
  slots.resize(values.size());
  for (size_t s = 0; s < values.size(); ++s) {
    const int64_t need = checked_mul(batch, values[s], what);
    if (slots[s].numel() < need) slots[s].resize({need});
  }
}
}  // namespace

int Graph::sole_consumer(size_t k) const {
  if (nodes_[k].readers != 1) return -1;
  for (int o : outputs_)
    if (o == static_cast<int>(k)) return -1;
  for (size_t j = k + 1; j < nodes_.size(); ++j)
    for (int i : nodes_[j].inputs)
      if (i == static_cast<int>(k)) return static_cast<int>(j);
  return -1;
}

void Graph::find_pool_fusions() {
  pool_role_.assign(nodes_.size(), kNoFold);
  if (!kTrainingBuilt) return;  // training-only: a runtime leaves the fused code out
  for (size_t k = 0; k + 1 < nodes_.size(); ++k) {
    const size_t p = k + 1;  // next in the step order: plan_training_buffers relies on it
    if (sole_consumer(k) != static_cast<int>(p) || nodes_[k].calls != 1 ||
        nodes_[p].calls != 1 || layer(p).type() != "MaxPooling2D")
      continue;
    MaxPoolFusable* fusable = layer(k).max_pool_fusable();
    if (!fusable) continue;
    // An activity regularizer reads the output that fusing removes.
    if (layer(k).regularizes_activity() || layer(p).regularizes_activity()) continue;
    PoolFusion f;
    f.layer = fusable;
    f.layer_node = k;
    f.pool_node = p;
    f.geom = ops::pool2d_geometry(nodes_[k].shape, parse_pool_args(layer(p).attrs()),
                                  layer(p).who());
    pool_role_[k] = static_cast<int>(pool_fusions_.size());
    pool_role_[p] = kFoldedAway;
    pool_fusions_.push_back(f);
  }
}

void Graph::find_row_ops() {
  row_ops_.clear();
  if (!kRowBandsBuilt || input_shapes_.size() != 1 || input_shapes_[0].size() != 3) return;
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const int before = static_cast<int>(k) - 1;  // -1: the model input
    if (nodes_[k].inputs != std::vector<int>{before} ||
        (k > 0 && sole_consumer(k - 1) != static_cast<int>(k)) || fold_role_[k] != kNoFold ||
        pool_role_[k] != kNoFold || layer(k).regularizes_activity())
      break;
    pcvm::Op op;
    if (!layer(k).row_op(&op)) break;
    row_ops_.push_back(op);
  }
  const pcvm::Model m{row_ops_.data(), static_cast<int32_t>(row_ops_.size())};
  row_work_ = banded_work(m);
  row_ops_.resize(static_cast<size_t>(banded_ops(m)));
}

const RowBands* Graph::row_bands(int threads) const {
  if (!kRowBandsBuilt || row_ops_.empty()) return nullptr;
  return row_bands_.get({row_ops_.data(), static_cast<int32_t>(row_ops_.size())},
                        threads_for(row_work_, threads));
}

void Graph::run_row_bands(const float* x, float* y, const RowBands& b) const {
  const auto count = static_cast<int64_t>(b.bands.size());
  parallel_for(static_cast<int>(count), count, [&](int64_t i) {
    const RowBand& band = b.bands[static_cast<size_t>(i)];
    // The band's rows between its layers: two buffers, taking turns.
    int64_t most = 0;
    for (int32_t k = 0; k + 1 < b.end; ++k) {
      const pcvm::Op& op = band.ops[static_cast<size_t>(k)];
      most = std::max(most, int64_t{op.out_h} * op.out_w * op.out_c);
    }
    thread_local Tensor t_rows;  // 64-byte aligned, as a slot is; kept: warm calls allocate nothing
    if (t_rows.numel() < 2 * most) t_rows.resize({2 * most});
    const float* in = x + band.input_offset;
    for (int32_t k = 0; k < b.end; ++k) {
      float* out = k + 1 == b.end ? y + band.output_offset / static_cast<int64_t>(sizeof(float))
                                  : t_rows.data() + (k % 2) * most;
      layer(static_cast<size_t>(k)).forward_rows(band.ops[static_cast<size_t>(k)], in, out);
      in = out;
    }
    if (t_rows.held_bytes() > kRetainBytes) t_rows = Tensor();  // as a context gives a huge call's back
  });
}

void Graph::find_input_checker() {
  input_checker_ = -1;
  if (input_shapes_.size() != 1 || nodes_.empty() || nodes_[0].inputs != std::vector<int>{-1})
    return;
  if (fold_role_[0] == kNoFold && pool_role_[0] == kNoFold && layer(0).checks_input_while_reading())
    input_checker_ = 0;
}

void Graph::find_folds() {
  std::vector<bool> is_output(nodes_.size(), false);
  for (int o : outputs_) is_output[o] = true;
  fold_role_.assign(nodes_.size(), kNoFold);
  if (!kBatchNormBuilt) return;  // a runtime without the layer leaves the folding code out
  for (size_t k = 0; k < nodes_.size(); ++k) {
    const int norm = sole_consumer(k);
    // calls == 1: the node owns a layer no other node runs.
    if (norm < 0 || nodes_[k].calls != 1 || !can_fold_batchnorm_into(layer(k))) continue;
    if (layer(norm).type() != "BatchNormalization" || nodes_[norm].calls != 1) continue;
    // An activity regularizer reads its layer's output, which folding removes.
    if (layer(k).regularizes_activity() || layer(norm).regularizes_activity()) continue;
    auto fold = std::make_unique<Fold>();
    fold->layer_node = k;
    fold->norm_node = fold->last = static_cast<size_t>(norm);
    const int act = sole_consumer(static_cast<size_t>(norm));
    if (act >= 0 && layer(act).type() == "Activation" && nodes_[act].calls == 1 &&
        !is_output[act] && !layer(act).regularizes_activity()) {
      fold->last = static_cast<size_t>(act);
      fold->activation = layer(act).attrs().get_string("activation", "linear");
      fold_role_[act] = kFoldedAway;
    }
    fold_role_[norm] = kFoldedAway;
    fold_role_[k] = static_cast<int>(folds_.size());
    folds_.push_back(std::move(fold));
  }
}

std::vector<std::array<size_t, 3>> Graph::inference_folds() const {
  std::vector<std::array<size_t, 3>> out;
  for (const auto& f : folds_) out.push_back({f->layer_node, f->norm_node, f->last});
  return out;
}

std::vector<std::array<size_t, 2>> Graph::pool_fusions() const {
  std::vector<std::array<size_t, 2>> out;
  for (const PoolFusion& f : pool_fusions_) out.push_back({f.layer_node, f.pool_node});
  return out;
}

std::shared_ptr<const Layer> Graph::folded_layer(const Fold& f) const {
  // Every write bumps a weight's version, so the sum changes with any of them.
  uint64_t versions = 0;
  for (size_t node : {f.layer_node, f.norm_node})
    for (const Param& p : layer(node).params()) versions += p.version;
  std::lock_guard<std::mutex> lock(f.mutex);
  if (!f.folded || versions != f.versions) {
    f.folded = fold_batchnorm(layer(f.layer_node), layer(f.norm_node), f.activation,
                              nodes_[f.layer_node].in_shapes);
    f.versions = versions;
  }
  return f.folded;
}

void Graph::add_node(const NodeSpec& spec, Rng& rng) {
  const size_t k = nodes_.size();
  Attrs attrs = spec.attrs;
  if (!attrs.has("name")) attrs.set("name", cat(attrs.type(), "_", k));
  Node node;
  node.owner = k;
  // A name seen before is a second call of that layer (shared weights);
  // names are otherwise unique: a saved model keys its tensors by them.
  // (Compared with the attributes the first call was given: building may
  // add some, as Dropout adds the seed it drew.)
  for (size_t j = 0; j < k; ++j) {
    if (nodes_[j].layer && nodes_[j].layer->name() == attrs.name()) {
      if (nodes_[j].given.values() != attrs.values())
        throw ValueError(cat("layer names must be unique; '", attrs.name(), "' is used twice "
                             "with different arguments"));
      node.owner = j;
    }
    if (nodes_[j].owner == node.owner && node.owner != k) ++node.call;
  }
  const std::string who = node.owner == k ? attrs.who() : nodes_[node.owner].layer->who();
  if (spec.inputs.empty()) throw ValueError(cat(who, ": a node needs at least one input"));
  for (int i : spec.inputs) {
    if (i >= static_cast<int>(k) || (i < 0 && -1 - static_cast<int64_t>(i) >=
                                                  static_cast<int64_t>(input_shapes_.size())))
      throw ValueError(cat(who, ": input ", i, " is not a model input (-1 .. ",
                           -static_cast<int64_t>(input_shapes_.size()), ") or an earlier node (0..",
                           static_cast<int>(k) - 1, "); nodes must be in topological order"));
    node.in_shapes.push_back(i < 0 ? input_shapes_[-1 - i] : nodes_[i].shape);
  }
  node.inputs = spec.inputs;
  if (node.owner == k) {
    node.given = attrs;
    node.layer = create_layer(attrs);
    node.shape = node.layer->build(node.in_shapes, &rng);
  } else {
    const Node& first = nodes_[node.owner];
    if (node.in_shapes != first.in_shapes)
      throw ShapeError(cat(who, " is called again on input shape(s) ",
                           shapes_str(node.in_shapes), " after ", shapes_str(first.in_shapes),
                           "; a shared layer must be called on inputs of the same shapes"));
    node.shape = first.shape;
  }
  nodes_.push_back(std::move(node));
}

void Graph::compile(const Attrs& loss, const Attrs& optimizer) {
  require_training("compile()");
  std::vector<OutputLoss> new_losses;
  for (auto& [attrs, weight] : unpack_output_losses(loss, outputs_.size())) {
    const size_t j = new_losses.size();
    OutputLoss ol;
    ol.loss = make_loss(attrs);
    ol.weight = weight;
    try {
      ol.loss->check_output(output_shape(j));
    } catch (const ShapeError& e) {
      if (outputs_.size() == 1) throw;
      throw ShapeError(cat("output ", j, " (", layer(outputs_[j]).who(), "): ", e.what()));
    }
    new_losses.push_back(std::move(ol));
  }
  auto new_optimizer = make_optimizer(optimizer);
  if (trained_by_other_thread())
    throw StateError("cannot compile a model while another thread trains it");
  std::unique_lock<SharedMutex> lock(weights_);
  for (size_t j = 0; j < outputs_.size(); ++j) {
    // An output's softmax/sigmoid runs inside a cross-entropy loss, unless
    // another node reads the output or another call shares its layer.
    const Node& node = nodes_[outputs_[j]];
    Layer& out = layer(outputs_[j]);
    const bool shared = nodes_[node.owner].calls > 1;
    OutputLoss& ol = new_losses[j];
    const ops::Activation fusable = ol.loss->fusable_activation();
    const bool fused = fusable != ops::Activation::Linear && out.activation() == fusable &&
                       node.readers == 0 && !shared;
    ol.fused = fused ? fusable : ops::Activation::Linear;
    if (fused) ol.loss->use_logits();
    out.set_defer_activation(fused);
  }
  losses_ = std::move(new_losses);
  optimizer_ = std::move(new_optimizer);
  loss_attrs_ = loss;
  optimizer_attrs_ = optimizer;
}

const Loss& Graph::loss(size_t output) const {
  if (losses_.empty())
    throw StateError("the model must be compiled first: call compile(optimizer, loss)");
  return *losses_.at(output).loss;
}

void Graph::check_targets(const Tensor& y, size_t output) const {
  loss(output).check_target(with_batch(y.ndim() ? y.dim(0) : 0, output_shape(output)), y);
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

void Graph::check_inputs(const Batch& xs, bool finiteness) const {
  if (xs.size() != input_shapes_.size())
    throw ValueError(cat("expected ", input_shapes_.size(), " input array(s), received ",
                         xs.size()));
  for (size_t j = 0; j < xs.size(); ++j) {
    const Tensor& x = *xs[j];
    const Shape& want = input_shapes_[j];
    const std::string which = xs.size() == 1 ? std::string() : cat(" ", j);
    const Shape& s = x.shape();
    if (s.size() != want.size() + 1 || !std::equal(want.begin(), want.end(), s.begin() + 1))
      throw ShapeError(cat(xs.size() == 1 ? layer(0).who() + ": expected input"
                                          : cat("expected input", which),
                           " of shape ", batch_shape_str(want), ", received ", shape_str(s)));
    if (x.dim(0) == 0) throw ValueError("expected at least one sample, received an empty batch");
    if (x.dim(0) != xs[0]->dim(0))
      throw ShapeError(cat("every input must hold the same number of samples; input 0 has ",
                           xs[0]->dim(0), ", input ", j, " has ", x.dim(0)));
    if (finiteness)
      require_finite_input(x.data(), x.numel(), num_threads(),
                           xs.size() == 1 ? "" : cat(" of input", which));
  }
}

void Graph::prepare(ExecContext& c) const {
  if (c.model_ == this && c.nodes_.size() == nodes_.size()) return;
  c.nodes_.clear();
  c.nodes_.resize(nodes_.size());
  for (size_t k = 0; k < nodes_.size(); ++k) {
    ExecContext::NodeRun& run = c.nodes_[k];
    run.state = layer(k).new_state();
    if (!run.state) run.state = std::make_unique<LayerState>();
    run.in.resize(nodes_[k].inputs.size());
    run.out_shape = with_batch(0, nodes_[k].shape);
  }
  c.model_ = this;
  c.inputs_.clear();
}

namespace {
bool overlaps(const Tensor& a, const Tensor& b) {
  const float *a0 = a.data(), *b0 = b.data();
  return a0 < b0 + b.numel() && b0 < a0 + a.numel();
}
}  // namespace

void Graph::run_forward(const Batch& xs, bool training, ExecContext& c, Buffers buffers,
                        const uint64_t* augment_key, Tensor* const* direct_outs,
                        Outputs outputs) const {
  const FlushDenormals flush;
  // A layer that checks the input as it reads it may write a caller's
  // output before it fails: only where that output is scratch.
  int checker = direct_outs && outputs == Outputs::Kept ? -1 : input_checker_;
  check_inputs(xs, checker < 0);
  prepare(c);
  c.inputs_.clear();  // set again once this forward has succeeded
  c.activity_penalty_ = 0.0;
  RunContext rc = run_context(training);
  if (augment_key) {
    rc.augment = true;
    rc.step = *augment_key;
  }
  if (training && buffers == Buffers::Folded) buffers = Buffers::Training;
  const bool fold = buffers == Buffers::Folded;
  const int64_t batch = xs[0]->dim(0);
  // Inference's team is chosen by timing this context's calls (core/team_choice.h).
  if (!training) rc.threads = c.team_.pick(rc.threads, batch);
  const auto start = std::chrono::steady_clock::now();
  // One sample on several threads: its first layers in bands of rows (not
  // while profiling, which times layer by layer).
  const RowBands* bands = kRowBandsBuilt && fold && batch == 1 && !augment_key && !profile_.on()
                              ? row_bands(rc.threads)
                              : nullptr;
  if (bands && checker >= 0) {  // the layer that would check the input runs in bands
    require_finite_input(xs[0]->data(), xs[0]->numel(), 1);
    checker = -1;
  }
  // Slots grow only here, before any output or gradient views them.
  if (buffers == Buffers::Training)
    grow_slots(c.train_slots_, train_slot_values_, batch, "a training buffer");
  if (fold) grow_slots(c.slots_, slot_values_, batch, "an inference buffer");
  c.direct_out_.assign(nodes_.size(), nullptr);
  for (size_t j = 0; fold && direct_outs && j < outputs_.size(); ++j) {
    Tensor& o = *direct_outs[j];
    float*& to = c.direct_out_[outputs_[j]];
    const Shape& sample = nodes_[outputs_[j]].shape;  // compared in place: no allocation
    if (to || o.numel() == 0 || o.ndim() != static_cast<int>(sample.size()) + 1 ||
        o.dim(0) != batch || !std::equal(sample.begin(), sample.end(), o.shape().begin() + 1))
      continue;
    bool apart = true;
    for (const Tensor* x : xs) apart = apart && !overlaps(o, *x);
    for (size_t k = 0; k < j; ++k) apart = apart && !overlaps(o, *direct_outs[k]);
    if (apart) to = o.data();
  }
  // Node d's output, set up for a node to write it.
  auto output_of = [&](size_t d) -> Tensor& {
    ExecContext::NodeRun& target = c.nodes_[d];
    target.out_shape[0] = batch;
    if (fold) {
      float* to = c.direct_out_[d] ? c.direct_out_[d] : c.slots_[infer_slot_[d]].data();
      target.out.view_of(to, target.out_shape);
    } else if (buffers == Buffers::Training) {
      target.out.view_of(c.train_slots_[train_slot_[d]].data(), target.out_shape);
    } else {
      if (target.out.is_view()) target.out = Tensor();  // a slot another run shares
      target.out.resize(target.out_shape);
    }
    return target.out;
  };
  size_t first = 0;  // the first node to run one by one
  auto after_start = start;
  if (kRowBandsBuilt && bands) {
    first = static_cast<size_t>(bands->end);
    run_row_bands(xs[0]->data(), output_of(first - 1).data(), *bands);
    rc.threads = c.after_bands_.pick(rc.threads, batch);
    after_start = std::chrono::steady_clock::now();
  }
  // The pool fusions run in training and in (folded) inference, as their
  // buffers are planned; Own keeps every output.
  const bool pool_fused = buffers != Buffers::Own;
  for (size_t k = first; k < nodes_.size(); ++k) {
    const Node& node = nodes_[k];
    const int role = fold ? fold_role_[k] : kNoFold;
    const int pool_role = pool_fused ? pool_role_[k] : kNoFold;
    if (role == kFoldedAway || pool_role == kFoldedAway) continue;
    ExecContext::NodeRun& run = c.nodes_[k];
    for (size_t j = 0; j < node.inputs.size(); ++j) {
      const int i = node.inputs[j];
      run.in[j] = i < 0 ? xs[-1 - i] : &c.nodes_[i].out;
    }
    rc.state = run.state.get();
    rc.call = node.call;
    rc.check_input = static_cast<int>(k) == checker;
    // The node whose output this writes: a fold's layer writes its chain's
    // last, a pool fusion's its pooling's.
    const size_t d = role >= 0        ? folds_[role]->last
                     : pool_role >= 0 ? pool_fusions_[pool_role].pool_node
                                      : k;
    ExecContext::NodeRun& target = c.nodes_[d];
    output_of(d);
    {
      const Profile::Timer time(profile_, k, Profile::Forward);  // a fold's time is its layer's
      if (kBatchNormBuilt && role >= 0)  // (constant: no fold without the layer)
        folded_layer(*folds_[role])->forward(run.in, target.out, rc);
      else if (kTrainingBuilt && pool_role >= 0)  // (constant: none in a runtime-only build)
        pool_fusions_[pool_role].layer->forward_max_pooled(
            *run.in[0], pool_fusions_[pool_role].geom, target.out,
            buffers == Buffers::Training, rc);
      else
        layer(k).forward(run.in, target.out, rc);
    }
    if (kTrainingBuilt && layer(d).regularizes_activity())  // only a loss reads it
      c.activity_penalty_ += activity_penalty(d, target.out);
  }
  c.inputs_ = xs;
  c.training_ = training;
  c.step_ = rc.step;  // the key this forward's random draws took (backward replays them)
  if (!training) {
    const auto end = std::chrono::steady_clock::now();
    if (bands)
      c.after_bands_.record(
          std::chrono::duration_cast<std::chrono::nanoseconds>(end - after_start).count());
    c.team_.record(std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
  }
}

namespace {
void add_floats(Tensor& to, const Tensor& from) {
  pyconv::add_floats(to.data(), from.data(), to.numel());
}
}  // namespace

void Graph::run_backward(const std::vector<Tensor*>& dxs_in, ExecContext& c) {
  require_training("backward()");
  const FlushDenormals flush;
  if (c.inputs_.empty() || c.model_ != this)
    throw StateError("backward() needs a forward() first");
  for (Param* p : params_) p->grad.resize(p->value.shape());  // allocated on first use
  for (ExecContext::NodeRun& r : c.nodes_) r.grad_ready = false;
  for (int o : outputs_) c.nodes_[o].grad_ready = true;  // the loss wrote them
  std::vector<Tensor*> dxs = dxs_in;
  dxs.resize(input_shapes_.size(), nullptr);
  std::vector<bool> dx_ready(dxs.size(), false);
  std::vector<bool> written(nodes_.size(), false);  // a layer's param grads hold a call's share
  // Second shares of a gradient (kept in the context from step to step: a
  // fresh residual-sized buffer each step costs its page faults), and a
  // shared layer's gradients.
  std::vector<Tensor>& parts = c.grad_parts_;
  std::vector<Tensor> earlier;
  // Which nodes' outputs need a gradient: those downstream of a trainable
  // weight or of an input whose gradient the caller asked for. The rest
  // (augmentation in front of the first layer, a frozen feature extractor)
  // would compute gradients no one reads.
  std::vector<bool>& wanted = c.grad_wanted_;
  wanted.assign(nodes_.size(), false);
  for (size_t k = 0; k < nodes_.size(); ++k) {
    for (const Param& p : layer(k).params())
      if (p.trainable && !p.is_state) wanted[k] = true;
    for (int i : nodes_[k].inputs)
      if (i < 0 ? dxs[-1 - i] != nullptr : wanted[i]) wanted[k] = true;
  }
  for (size_t node = nodes_.size(); node-- > 0;) {
    if (wanted[node] && layer(node).regularizes_activity()) add_activity_grad(c, node);
    // Nothing an output depends on flows through here, or nothing needs it.
    if (!c.nodes_[node].grad_ready || !wanted[node]) continue;
    // A fused pooling's backward is its layer's (which never has a gradient of its own).
    const size_t k = pool_role_[node] == kFoldedAway ? node - 1 : node;
    const size_t owner = nodes_[k].owner;
    if (!written[owner]) {
      run_node_backward(k, c, dxs, dx_ready, parts);
      written[owner] = true;
      continue;
    }
    // A shared layer's later call: its weight gradients add to the other calls'.
    std::vector<Param>& params = layer(k).params();
    earlier.clear();
    for (Param& p : params)
      if (!p.is_state) earlier.push_back(p.grad.clone());
    run_node_backward(k, c, dxs, dx_ready, parts);
    size_t e = 0;
    for (Param& p : params)
      if (!p.is_state) add_floats(p.grad, earlier[e++]);
  }
  for (size_t k = 0; k < nodes_.size(); ++k)
    if (nodes_[k].layer && !written[k])
      for (Param& p : nodes_[k].layer->params())
        if (!p.is_state) p.grad.zero();
  for (size_t j = 0; j < dxs.size(); ++j)
    if (dxs[j] && !dx_ready[j]) dxs[j]->zero();
}

void Graph::run_node_backward(size_t k, ExecContext& c, std::vector<Tensor*>& dxs,
                              std::vector<bool>& dx_ready, std::vector<Tensor>& parts) {
  const Node& node = nodes_[k];
  ExecContext::NodeRun& run = c.nodes_[k];
  std::vector<const Tensor*> in;
  std::vector<Tensor*> din;
  std::vector<std::pair<Tensor*, size_t>> sums;  // (gradient, part) to add after
  // Pointers to parts are taken below: no growth once they are.
  if (parts.size() < node.inputs.size()) parts.resize(node.inputs.size());
  size_t used = 0;
  for (int i : node.inputs) {
    in.push_back(i < 0 ? c.inputs_[-1 - i] : &c.nodes_[i].out);
    Tensor* target = i < 0 ? dxs[-1 - i] : c.grad_wanted_[i] ? &c.nodes_[i].grad : nullptr;
    if (!target) {
      din.push_back(nullptr);
      continue;
    }
    const bool ready = i < 0 ? dx_ready[-1 - i] : c.nodes_[i].grad_ready;
    if (!ready) {
      if (i < 0) {
        target->resize(in.back()->shape());
        dx_ready[-1 - i] = true;
      } else {
        gradient_buffer(c, static_cast<size_t>(i));
        c.nodes_[i].grad_ready = true;
      }
      din.push_back(target);
    } else {  // a tensor that feeds several nodes: gradients are summed
      Tensor& part = parts[used];
      part.resize(in.back()->shape());
      part.zero();  // as a new tensor would be
      sums.emplace_back(target, used++);
      din.push_back(&part);
    }
  }
  RunContext rc = run_context(c.training_);
  rc.step = c.step_;  // replay the forward's dropout masks
  rc.call = node.call;
  rc.state = run.state.get();
  {
    const Profile::Timer time(profile_, k, Profile::Backward);
    if (const int pool = pool_role_[k]; pool >= 0) {
      const PoolFusion& f = pool_fusions_[pool];
      ExecContext::NodeRun& pooled = c.nodes_[f.pool_node];
      f.layer->backward_max_pooled(*in[0], f.geom, pooled.out, pooled.grad, din[0], rc);
    } else {
      layer(k).backward(in, run.out, run.grad, din, rc);
    }
  }
  for (auto& [target, part] : sums) add_floats(*target, parts[part]);
}

void Graph::finish_outputs(const ExecContext& c, Tensor* const* outs, int threads) const {
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const Tensor& y = c.nodes_[outputs_[j]].out;
    Tensor& out = *outs[j];
    if (out.data() != y.data()) {  // not written in place by run_forward
      out.resize(y.shape());
      copy_floats(out.data(), y.data(), y.numel());
    }
    const ops::Activation fused = losses_.empty() ? ops::Activation::Linear : losses_[j].fused;
    if (fused != ops::Activation::Linear) {
      const int64_t cols = out.dim(-1);
      ops::activation_forward(fused, out.data(), out.numel() / cols, cols, threads);
    }
  }
}

std::unique_ptr<ExecContext> Graph::new_context() const {
  auto c = std::make_unique<ExecContext>();
  prepare(*c);
  return c;
}

void Graph::predict(const Tensor& x, Tensor& out, ExecContext& ctx, Outputs outputs) const {
  if (outputs_.size() != 1)
    throw ValueError(cat("the model has ", outputs_.size(), " outputs; predict each of them"));
  std::shared_lock<SharedMutex> lock(weights_);
  ctx.one_input_.assign(1, &x);
  Tensor* outs[] = {&out};
  run_forward(ctx.one_input_, false, ctx, Buffers::Folded, nullptr, outs, outputs);
  finish_outputs(ctx, outs, run_context(false).threads);
}

void Graph::prepare_inference() const {
  std::shared_lock<SharedMutex> lock(weights_);
  for (const Node& node : nodes_)
    if (node.layer) node.layer->prepare_inference();
  if (kBatchNormBuilt)
    for (const auto& f : folds_) folded_layer(*f);
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
    c_->inputs_.clear();
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

void Graph::predict(const Tensor& x, Tensor& out, Outputs outputs) const {
  PooledContext c(*this);
  predict(x, out, *c, outputs);
}

void Graph::predict(const Batch& xs, const std::vector<Tensor*>& outs, Outputs outputs) const {
  if (outs.size() != outputs_.size())
    throw ValueError(cat("expected ", outputs_.size(), " output tensor(s), received ", outs.size()));
  PooledContext c(*this);
  std::shared_lock<SharedMutex> lock(weights_);
  run_forward(xs, false, *c, Buffers::Folded, nullptr, outs.data(), outputs);
  finish_outputs(*c, outs.data(), run_context(false).threads);
}

void Graph::predict_augmented(const Batch& xs, const std::vector<Tensor*>& outs, uint64_t key,
                              Outputs outputs) const {
  if (outs.size() != outputs_.size())
    throw ValueError(cat("expected ", outputs_.size(), " output tensor(s), received ", outs.size()));
  PooledContext c(*this);
  std::shared_lock<SharedMutex> lock(weights_);
  run_forward(xs, false, *c, Buffers::Folded, &key, outs.data(), outputs);
  finish_outputs(*c, outs.data(), run_context(false).threads);
}

std::vector<Tensor> Graph::node_outputs(const Batch& xs, const std::vector<size_t>& which) const {
  for (size_t i : which)
    if (i >= nodes_.size())
      throw ValueError(cat("node_outputs: node ", i, " is out of range (the graph has ",
                           nodes_.size(), ")"));
  PooledContext c(*this);
  std::shared_lock<SharedMutex> lock(weights_);
  run_forward(xs, false, *c, Buffers::Own);
  std::vector<Tensor> outs;
  for (size_t i : which) outs.push_back((*c).nodes_[i].out.clone());
  return outs;
}

StepResult Graph::evaluate(const Batch& xs, const Batch& ys, bool training, ExecContext& c,
                           const Tensor* sample_weight, const StepOptions& options) const {
  // Losses need the training code (a runtime-only build cannot compile a model).
  if constexpr (!kTrainingBuilt) training_not_built("evaluating a loss");
  if (losses_.empty()) throw StateError("the model must be compiled before training or "
                                        "evaluation: call compile(optimizer, loss) first");
  if (ys.size() != outputs_.size())
    throw ValueError(cat("expected ", outputs_.size(), " target array(s), one per output, "
                         "received ", ys.size()));
  run_forward(xs, training, c, Buffers::Folded);
  const int64_t n = xs[0]->dim(0);
  StepResult r;
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const Tensor& y = *ys[j];
    const std::string which = outputs_.size() == 1 ? "" : cat(" for output ", j);
    if (y.ndim() == 0 || y.dim(0) != n)
      throw ShapeError(cat("expected as many targets as inputs (", n, ")", which,
                           ", received ", y.ndim() ? y.dim(0) : 0));
    if (const int64_t i = first_non_finite(y.data(), y.numel(), num_threads()); i >= 0)
      throw ValueError(cat("expected finite target values", which, ", found ", y.data()[i],
                           " at index ", i));
  }
  if (sample_weight) {
    if (sample_weight->numel() != n)
      throw ShapeError(cat("expected one sample weight per sample (", n, "), received ",
                           sample_weight->numel()));
    for (int64_t i = 0; i < n; ++i)
      if (!(sample_weight->data()[i] >= 0.f) || !std::isfinite(sample_weight->data()[i]))
        throw ValueError(cat("expected finite sample weights >= 0, found ", sample_weight->data()[i],
                             " at index ", i));
  }
  // The loss of output j, and its gradient when training.
  auto loss_of = [&](const Loss& loss, const Tensor& out, const Tensor& y, Tensor* grad) {
    return sample_weight ? weighted_loss(loss, out, y, sample_weight->data(), grad)
                         : loss.compute(out, y, grad);
  };
  const Profile::Timer time(profile_, 0, Profile::Loss);  // the losses and metrics
  for (size_t j = 0; j < outputs_.size(); ++j) {
    const OutputLoss& ol = losses_[j];
    ExecContext::NodeRun& run = c.nodes_[outputs_[j]];
    double value;
    if (training) {
      gradient_buffer(c, static_cast<size_t>(outputs_[j]));
      value = loss_of(*ol.loss, run.out, *ys[j], &run.grad);
      if (ol.weight != 1.0) {
        const float w = static_cast<float>(ol.weight);
        float* g = run.grad.data();
        const int64_t size = run.grad.numel();
#pragma omp simd
        for (int64_t i = 0; i < size; ++i) g[i] *= w;
      }
    } else {
      value = loss_of(*ol.loss, run.out, *ys[j], nullptr);
    }
    r.output_losses.push_back(value);
    r.output_correct.push_back(ol.loss->count_correct(run.out, *ys[j]));
    double abs_sum = std::nan(""), sq_sum = std::nan("");
    if (ys[j]->numel() == run.out.numel()) {
      abs_sum = sq_sum = 0.0;
      const float *p = run.out.data(), *t = ys[j]->data();
      Tensor probabilities;  // of the logits, where the loss took them (a fused softmax or sigmoid)
      if (ol.fused != ops::Activation::Linear) {
        probabilities.resize(run.out.shape());
        copy_floats(probabilities.data(), p, run.out.numel());
        const int64_t cols = run.out.dim(-1);
        ops::activation_forward(ol.fused, probabilities.data(), run.out.numel() / cols, cols, 1);
        p = probabilities.data();
      }
      for (int64_t i = 0; i < run.out.numel(); ++i) {
        const double d = static_cast<double>(p[i]) - t[i];
        abs_sum += std::fabs(d), sq_sum += d * d;
      }
    }
    r.output_abs_error.push_back(abs_sum);
    r.output_squared_error.push_back(sq_sum);
    if (j < options.top_k.size() && !options.top_k[j].empty())
      r.output_top_k.push_back(count_top_k(run.out, *ys[j], options.top_k[j],
                                           sample_weight ? sample_weight->data() : nullptr));
    else
      r.output_top_k.emplace_back();
    r.loss += ol.weight * value;
  }
  r.loss += penalty() + c.activity_penalty_;
  r.correct = r.output_correct[0];
  if (options.keep_outputs) {
    r.outputs.resize(outputs_.size());
    std::vector<Tensor*> outs;
    for (Tensor& t : r.outputs) outs.push_back(&t);
    finish_outputs(c, outs.data(), run_context(false).threads);
  }
  return r;
}

namespace {
// l1 * sum |v| + l2 * sum v^2: the penalty of a weight (kernel_regularizer)
// or of an output (activity_regularizer).
double l1_l2_penalty(const Tensor& v, float l1, float l2) {
  double abs_sum = 0.0, sq_sum = 0.0;
  for (int64_t i = 0; i < v.numel(); ++i) {
    const double x = v.data()[i];
    abs_sum += std::fabs(x), sq_sum += x * x;
  }
  return l1 * abs_sum + l2 * sq_sum;
}

// grad += d(l1_l2_penalty)/dv.
void add_l1_l2_grad(const Tensor& v, float l1, float l2, Tensor& grad) {
  const float* x = v.data();
  float* g = grad.data();
  for (int64_t i = 0; i < v.numel(); ++i) {
    const float sign = x[i] > 0.f ? 1.f : (x[i] < 0.f ? -1.f : 0.f);
    g[i] += l1 * sign + 2.f * l2 * x[i];
  }
}
}  // namespace

double Graph::activity_penalty(size_t k, const Tensor& out) const {
  return l1_l2_penalty(out, layer(k).activity_l1(), layer(k).activity_l2());
}

void Graph::add_activity_grad(ExecContext& c, size_t k) const {
  ExecContext::NodeRun& run = c.nodes_[k];
  if (!run.grad_ready) {  // no loss reads this output: the penalty alone
    gradient_buffer(c, k).zero();
    run.grad_ready = true;
  }
  add_l1_l2_grad(run.out, layer(k).activity_l1(), layer(k).activity_l2(), run.grad);
}

double Graph::penalty() const {
  double total = 0.0;
  for (const Param* p : params_)
    if (p->l1 != 0.f || p->l2 != 0.f) total += l1_l2_penalty(p->value, p->l1, p->l2);
  return total;
}

void Graph::add_penalty_grads() {
  for (Param* p : params_)
    if ((p->l1 != 0.f || p->l2 != 0.f) && p->trainable)
      add_l1_l2_grad(p->value, p->l1, p->l2, p->grad);
}

StepResult Graph::test_step(const Tensor& x, const Tensor& y) const {
  return test_step(Batch{&x}, Batch{&y});
}

StepResult Graph::test_step(const Batch& xs, const Batch& ys, const Tensor* sample_weight,
                            const StepOptions& options) const {
  const FlushDenormals flush;
  PooledContext c(*this);
  std::shared_lock<SharedMutex> lock(weights_);
  return evaluate(xs, ys, false, *c, sample_weight, options);
}

// ----- training ----------------------------------------------------------------------

// In a forked child (core/fork_generation.h) a trainer of the parent other
// than the forking thread is gone: the child's calls may train the model.
// (The forking thread, forking from a fit's callback, goes on as its trainer.)
void Graph::adopt_trainer_after_fork() const {
  const uint32_t now = fork_generation();
  if (now == trainer_generation_) return;
  if (trainer_depth_ > 0 && trainer_ != std::this_thread::get_id())  // (under trainer_mutex_)
    trainer_depth_ = 0, trainer_ = std::thread::id();
  trainer_generation_ = now;
}

void Graph::begin_training() {
  std::lock_guard<std::mutex> lock(trainer_mutex_);
  adopt_trainer_after_fork();
  const std::thread::id me = std::this_thread::get_id();
  if (trainer_depth_ > 0 && trainer_ != me)
    throw StateError("this model is being trained in another thread; a model trains in one "
                     "thread at a time (predict and evaluate may run alongside)");
  trainer_ = me;
  ++trainer_depth_;
}

void Graph::end_training() {
  std::lock_guard<std::mutex> lock(trainer_mutex_);
  adopt_trainer_after_fork();
  if (trainer_depth_ == 0 || trainer_ != std::this_thread::get_id()) return;
  if (--trainer_depth_ == 0) {
    trainer_ = std::thread::id();
    if (train_ctx_.held_bytes() > kRetainTrainingBytes) train_ctx_.release();
  }
}

bool Graph::trained_by_other_thread() const {
  std::lock_guard<std::mutex> lock(trainer_mutex_);
  adopt_trainer_after_fork();
  return trainer_depth_ > 0 && trainer_ != std::this_thread::get_id();
}

void Graph::update_weights() {
  const int bad = optimizer_->step(params_, run_context(true).threads);
  if (bad < 0) {
    for (Param* p : params_)
      if (p->trainable) apply_constraint(p->constraint, p->value);
    return;
  }
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
    if (node.layer)
      for (Param& p : node.layer->params())
        if (p.value.is_view()) p.value = p.value.clone();
}

StepResult Graph::train_step(const Tensor& x, const Tensor& y) {
  return train_step(Batch{&x}, Batch{&y});
}

StepResult Graph::train_step(const Batch& xs, const Batch& ys, const Tensor* sample_weight,
                             const StepOptions& options) {
  require_training("train_step()");
  const Profile::Timer time(profile_, 0, Profile::Step);
  const FlushDenormals flush;  // the loss and the weight update too
  TrainingScope scope(*this);
  std::unique_lock<SharedMutex> lock(weights_);
  own_weights();
  StepResult r = evaluate(xs, ys, true, train_ctx_, sample_weight, options);
  if (!std::isfinite(r.loss))
    throw ValueError(cat("the loss is ", r.loss, "; the weights were not updated (lower the "
                         "learning rate or check the data)"));
  run_backward({}, train_ctx_);
  {
    const Profile::Timer time_update(profile_, 0, Profile::Update);
    add_penalty_grads();
    update_weights();
  }
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
  require_training("forward()");  // a training step's first half (predict runs inference)
  if (trained_by_other_thread())
    throw StateError("cannot run forward() while another thread trains the model");
  std::unique_lock<SharedMutex> lock(weights_);
  run_forward({&x}, training, train_ctx_, Buffers::Training);
  return output();
}

const Tensor& Graph::output() const {
  if (train_ctx_.nodes_.empty()) throw StateError("output() needs a forward() first");
  return train_ctx_.nodes_[outputs_[0]].out;
}

void Graph::backward(Tensor& dout, Tensor* dx) {
  if (trained_by_other_thread())
    throw StateError("cannot run backward() while another thread trains the model");
  if (!single_io()) throw ValueError("backward(dout, dx) is for models of one input and output");
  std::unique_lock<SharedMutex> lock(weights_);
  if (train_ctx_.inputs_.empty()) throw StateError("backward() needs a forward() first");
  const Tensor& out = train_ctx_.nodes_[outputs_[0]].out;
  if (dout.shape() != out.shape())
    throw ShapeError(cat("expected an output gradient of shape ", shape_str(out.shape()),
                         ", received ", shape_str(dout.shape())));
  Tensor& grad = train_ctx_.nodes_[outputs_[0]].grad;
  if (&grad != &dout) copy_floats(gradient_buffer(train_ctx_, outputs_[0]).data(), dout.data(),
                                  dout.numel());
  run_backward({dx}, train_ctx_);
}

Tensor& Graph::output_grad() {
  if (train_ctx_.nodes_.empty()) throw StateError("output_grad() needs a forward() first");
  return gradient_buffer(train_ctx_, outputs_[0]);
}

size_t Graph::held_bytes() const {
  std::shared_lock<SharedMutex> weights(weights_);  // no step is growing train_ctx_
  size_t n = train_ctx_.held_bytes();
  std::lock_guard<std::mutex> lock(pool_mutex_);
  for (const auto& c : pool_) n += c->held_bytes();
  return n;
}

}  // namespace pyconv

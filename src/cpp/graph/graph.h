// Graph: the model. Layers wired as a DAG (Sequential is the chain), with the
// loss and optimizer, so one call runs a whole training step. This is the
// C++ API that the Python bindings, the C API and embedding programs share.
//
// The model (layers, parameters, optimizer state, inference caches) is
// separate from an ExecContext (activations, what backward keeps, scratch):
// any number of contexts may run one model's inference at once, while
// training holds the model alone (ONNX Runtime's session/run split).
#pragma once
#include <array>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/row_bands.h"
#include "core/fork_generation.h"
#include "core/shared_mutex.h"
#include "core/team_choice.h"
#include "graph/attrs.h"
#include "graph/layer.h"
#include "graph/profile.h"
#include "graph/losses.h"
#include "graph/optimizers.h"

namespace pyconv {

struct StepResult {
  double loss = 0.0;    // mean over the batch: the weighted sum of the outputs' losses
  int64_t correct = 0;  // samples predicted right ("accuracy" numerator), first output
  // Per output (several for a model with several outputs).
  std::vector<double> output_losses;
  std::vector<int64_t> output_correct;
  // Sums over the output's elements of |pred - target| and (pred - target)^2
  // (the "mae" and "mse" metrics); NaN where the targets are not shaped like
  // the output (class labels).
  std::vector<double> output_abs_error, output_squared_error;
  // With keep_outputs: each output as the loss saw it (after an activation
  // fused into the loss), for metrics computed outside the step.
  std::vector<Tensor> outputs;
  // Per output, for each k asked for (StepOptions::top_k): the weighted
  // count of samples whose label is among the k highest scores.
  std::vector<std::vector<double>> output_top_k;
};

// What a train or test step computes besides the loss.
struct StepOptions {
  bool keep_outputs = false;
  std::vector<std::vector<int>> top_k;  // per output: the k of each top-k accuracy
};

// One node of the DAG: a layer and where its inputs come from. A node whose
// name repeats an earlier node's calls that node's layer again: the same
// weights (a shared layer), on inputs of the same shapes.
struct NodeSpec {
  Attrs attrs;
  std::vector<int> inputs;  // indices of earlier nodes; -1 - k is model input k
};

// Several input or target arrays, one per model input or output.
using Batch = std::vector<const Tensor*>;

// Everything one forward/backward pass needs besides the model. Use one
// context from one thread at a time; make one per thread.
class ExecContext {
 public:
  // Bytes of activations and scratch held between calls.
  size_t held_bytes() const;
  // Gives the buffers back (they are allocated again on the next call).
  void release();

 private:
  friend class Graph;
  struct NodeRun {
    Tensor out, grad;
    std::unique_ptr<LayerState> state;
    bool grad_ready = false;  // backward: grad holds a sum already
    // Kept between calls so that a warm forward allocates nothing: the
    // node's input pointers and its output shape (batch axis first).
    std::vector<const Tensor*> in;
    Shape out_shape;
  };
  const void* model_ = nullptr;  // the graph the node runs belong to
  std::vector<NodeRun> nodes_;
  Batch inputs_;  // empty until a forward succeeds
  // Inference's shared output buffers (Graph::plan_inference_buffers): a
  // node's output views a slot while it is read.
  std::vector<Tensor> slots_;
  // A training step's shared buffers (Graph::plan_training_buffers).
  std::vector<Tensor> train_slots_;
  Batch one_input_;  // predict(x)'s batch of one tensor, kept so it allocates nothing
  std::vector<bool> grad_wanted_;  // backward: which node outputs need a gradient
  std::vector<float*> direct_out_;  // per node: the caller's output memory it writes, or null
  std::vector<Tensor> grad_parts_;  // backward: second shares of a gradient, reused
  double activity_penalty_ = 0.0;  // the last forward's activity regularization
  bool training_ = false;
  uint64_t step_ = 0;
  TeamChoice team_;  // inference's threads: all, or one where that is faster
  // The same for the nodes after a batch-1 call's bands of rows, timed apart:
  // small layers (a dense layer's 48k multiply-adds) may gain from a second
  // thread while hand-overs between the cores are fast, and lose when slow.
  TeamChoice after_bands_;
};

class Graph {
 public:
  // A chain of layers for inputs of per-sample shape `input_shape`; weights
  // are initialised from `seed`. Throws ShapeError/ValueError naming a layer.
  Graph(const std::vector<Attrs>& layers, const Shape& input_shape, uint64_t seed);
  // A DAG: nodes in topological order; the output is the last node.
  Graph(const std::vector<NodeSpec>& nodes, const Shape& input_shape, uint64_t seed);
  // A DAG with several inputs (per-sample shapes) and outputs (node indices).
  Graph(const std::vector<NodeSpec>& nodes, const std::vector<Shape>& input_shapes,
        const std::vector<int>& outputs, uint64_t seed);
  ~Graph();

  const Shape& input_shape() const { return input_shapes_[0]; }
  const std::vector<Shape>& input_shapes() const { return input_shapes_; }
  const Shape& output_shape(size_t j = 0) const { return nodes_[outputs_.at(j)].shape; }
  const std::vector<int>& outputs() const { return outputs_; }
  bool single_io() const { return input_shapes_.size() == 1 && outputs_.size() == 1; }
  size_t size() const { return nodes_.size(); }
  // The layer node i runs (an earlier node's for a shared layer's later call).
  Layer& layer(size_t i) { return *nodes_.at(nodes_.at(i).owner).layer; }
  const Layer& layer(size_t i) const { return *nodes_.at(nodes_.at(i).owner).layer; }
  // The node that owns node i's layer and weights: i itself, or the first
  // node of a shared layer.
  size_t layer_owner(size_t i) const { return nodes_.at(i).owner; }
  const std::vector<int>& node_inputs(size_t i) const { return nodes_.at(i).inputs; }
  const Shape& layer_output_shape(size_t i) const { return nodes_.at(i).shape; }

  // loss: one loss's attrs for every output, or per-output losses with
  // weights packed by pack_output_losses (losses.h).
  void compile(const Attrs& loss, const Attrs& optimizer);
  const Attrs& loss_attrs() const { return loss_attrs_; }
  const Attrs& optimizer_attrs() const { return optimizer_attrs_; }
  const Loss& loss(size_t output = 0) const;
  // Checks a whole target array against an output's loss (shape, label
  // values), so bad labels are reported before any weight changes.
  void check_targets(const Tensor& y, size_t output = 0) const;
  bool compiled() const { return !losses_.empty(); }
  Optimizer& optimizer();
  const Optimizer* optimizer_or_null() const { return optimizer_.get(); }
  void set_num_threads(int n) { threads_ = n; }
  // Training steps taken (keys dropout masks); restored when a model is loaded.
  uint64_t step() const { return step_; }
  void set_step(uint64_t step) { step_ = step; }

  // ----- inference: thread-safe, many callers at once -----------------------
  std::unique_ptr<ExecContext> new_context() const;
  // What a failed predict may leave in the caller's output tensors. Kept:
  // nothing is written unless the call succeeds (the C API promises it).
  // Scratch: they are the call's own (new arrays), so a first layer may
  // check the input's finiteness while it reads it, writing before it fails
  // (Layer::checks_input_while_reading): one pass over the input fewer.
  enum class Outputs { Kept, Scratch };
  // out is resized to (N,) + output shape (a view must already have that size).
  void predict(const Tensor& x, Tensor& out, ExecContext& ctx,
               Outputs outputs = Outputs::Kept) const;
  // The same with a context borrowed from the model's pool.
  void predict(const Tensor& x, Tensor& out, Outputs outputs = Outputs::Kept) const;
  // Several inputs and outputs: one tensor per model input and output.
  void predict(const Batch& xs, const std::vector<Tensor*>& outs,
               Outputs outputs = Outputs::Kept) const;
  // Keras's model(x) and layer(x) on arrays: inference, but with the random
  // augmentation layers transforming (their Keras call defaults to
  // training=True), their draws keyed by `key` (vary it from call to call).
  void predict_augmented(const Batch& xs, const std::vector<Tensor*>& outs, uint64_t key,
                         Outputs outputs = Outputs::Kept) const;
  // Inference on x, keeping copies of the outputs of the nodes `which`
  // (intermediate feature maps).
  std::vector<Tensor> node_outputs(const Batch& xs, const std::vector<size_t>& which) const;
  // sample_weight: one weight (>= 0, finite) per sample, for every output's
  // loss (Keras's sample_weight); null: all 1.
  StepResult test_step(const Tensor& x, const Tensor& y) const;
  StepResult test_step(const Batch& xs, const Batch& ys, const Tensor* sample_weight = nullptr,
                       const StepOptions& options = {}) const;
  // Builds every layer's pre-packed weights now (model load calls it), so
  // the first predict is as fast as the next. Optional: predict builds what
  // is missing or stale.
  void prepare_inference() const;

  // ----- training: one thread at a time ---------------------------------------
  // Marks this thread as the model's trainer until end_training (calls nest).
  // Throws StateError if another thread is training it.
  void begin_training();
  void end_training();
  // x: (N,) + input shape; y: the targets the loss expects. Raises ValueError
  // naming the layer, with the weights as they were, when the step would
  // leave a gradient or a weight non-finite.
  StepResult train_step(const Tensor& x, const Tensor& y);
  StepResult train_step(const Batch& xs, const Batch& ys, const Tensor* sample_weight = nullptr,
                        const StepOptions& options = {});

  // Replaces the weights of one layer, or of several at once (all checked
  // before any is written); not while another thread trains the model.
  void set_weights(size_t layer, const std::vector<const float*>& values);
  void set_weights(const std::vector<std::pair<size_t, std::vector<const float*>>>& layers);
  // Copies of a layer's weights (and state), never half an update.
  std::vector<Tensor> get_weights(size_t layer) const;
  void set_trainable(size_t layer, bool trainable);

  // Lower-level steps for tests and custom loops, on the model's training
  // context (they hold the model like training does). forward keeps a
  // pointer to x, which must stay alive until backward. backward takes
  // d(loss)/d(output) (may be overwritten) and fills every param grad and,
  // if non-null, dx. Training code: a runtime-only build throws StateError.
  const Tensor& forward(const Tensor& x, bool training);
  const Tensor& output() const;
  void backward(Tensor& dout, Tensor* dx);
  // The buffer backward() reads the output gradient from, sized for the last
  // forward's output: filling it and passing it to backward saves a copy.
  Tensor& output_grad();

  // The Conv -> BatchNormalization (-> Activation) chains inference runs as
  // one folded layer: (layer node, normalization node, last node) each.
  std::vector<std::array<size_t, 3>> inference_folds() const;
  // The MaxPooling2D nodes training and inference run inside the layer
  // before them: (layer node, pooling node) each.
  std::vector<std::array<size_t, 2>> pool_fusions() const;

  // The bands of rows that batch-1 inference on `threads` threads runs its
  // first nodes in (find_row_ops), or null where it runs none.
  const RowBands* row_bands(int threads) const;

  // Bytes held by the training context and the pooled inference contexts.
  size_t held_bytes() const;

  // Per-node forward and backward times, and the training steps' loss,
  // weight update and whole step, while switched on (profile().set(true)).
  Profile& profile() const { return profile_; }

  // ----- saving and loading (io/model_file.h) -------------------------------------
  // Free-form metadata saved with the model (the Python front end keeps its
  // own description of the layers here).
  Attrs& meta() { return meta_; }
  const Attrs& meta() const { return meta_; }
  // Every parameter (trainable or frozen; not state), node by node, and the
  // layer each belongs to.
  const std::vector<Param*>& params() const { return params_; }
  const Layer& param_layer(size_t i) const { return *param_layer_.at(i); }
  // Hold it while reading weights, state and optimizer slots for a save: no
  // training step or weight write runs meanwhile.
  std::shared_lock<SharedMutex> read_lock() const {
    return std::shared_lock<SharedMutex>(weights_);
  }

 private:
  mutable Profile profile_;
  struct Node {
    std::unique_ptr<Layer> layer;  // null for a shared layer's later call
    size_t owner = 0;              // the node whose layer this one runs
    std::vector<int> inputs;       // node indices; -1 - k is graph input k
    std::vector<Shape> in_shapes;  // per sample
    Shape shape;                   // per-sample output shape
    int readers = 0;               // nodes that take this one's output
    int calls = 0;                 // on a layer's owner: the nodes that run the layer
    int call = 0;                  // which call of its layer this node is (0: the first)
    Attrs given;                   // on a layer's owner: the attributes it was made from
  };
  // An output's loss, its weight in the total, and the activation of its
  // node that runs inside the loss (softmax or sigmoid before a
  // cross-entropy; Linear: none).
  struct OutputLoss {
    std::unique_ptr<Loss> loss;
    double weight = 1.0;
    ops::Activation fused = ops::Activation::Linear;
  };
  // Holds the model as its trainer for one call (see begin_training).
  class TrainingScope;
  class PooledContext;

  void build(const std::vector<NodeSpec>& specs, const std::vector<int>& outputs, uint64_t seed);
  void add_node(const NodeSpec& spec, Rng& rng);
  // Shapes, and unless a layer checks it (input_checker_), finiteness.
  void check_inputs(const Batch& xs, bool finiteness = true) const;
  void prepare(ExecContext& c) const;
  RunContext run_context(bool training) const;
  // Where node outputs go: Folded runs Conv -> BatchNormalization (->
  // Activation) chains as one folded layer and shares buffers between
  // outputs (inference only); Training shares them between outputs and
  // gradients that no later step reads; both run the pool fusions (a fused
  // layer's own output is never written); Own keeps every output
  // (node_outputs).
  enum class Buffers { Folded, Training, Own };
  // augment_key: non-null to run the augmentation layers outside training
  // (predict_augmented), with draws keyed by it.
  // direct_outs (Folded only): the caller's output tensors, which outputs are
  // written straight into where they already have the right shape and share
  // no memory with an input (finish_outputs then copies nothing); `outputs`
  // says whether they may change when the run fails.
  void run_forward(const Batch& xs, bool training, ExecContext& c, Buffers buffers,
                   const uint64_t* augment_key = nullptr, Tensor* const* direct_outs = nullptr,
                   Outputs outputs = Outputs::Kept) const;
  // Backward from the gradients in the output nodes' grad tensors.
  void run_backward(const std::vector<Tensor*>& dxs, ExecContext& c);
  void run_node_backward(size_t k, ExecContext& c, std::vector<Tensor*>& dxs,
                         std::vector<bool>& dx_ready, std::vector<Tensor>& parts);
  void finish_outputs(const ExecContext& c, Tensor* const* outs, int threads) const;
  StepResult evaluate(const Batch& xs, const Batch& ys, bool training, ExecContext& c,
                      const Tensor* sample_weight = nullptr,
                      const StepOptions& options = {}) const;
  // The optimizer's step, or ValueError naming the layer (and no change)
  // when a gradient or a new weight is not finite.
  void update_weights();
  // The weight penalties (kernel/bias regularizers): their sum, which Keras
  // adds to the loss, and their gradients, added to the trainable weights'.
  double penalty() const;
  void add_penalty_grads();
  // Node k's activity regularization of its output `out`, and its gradient
  // added to the node's output gradient (backward).
  double activity_penalty(size_t k, const Tensor& out) const;
  void add_activity_grad(ExecContext& c, size_t k) const;
  bool trained_by_other_thread() const;
  // Weights loaded in place view a read-only mapped file: copied before the
  // first write (training, set_weights).
  void own_weights();

  // A Conv -> BatchNormalization (-> Activation) chain that inference runs as
  // one layer with the normalization folded in (batchnorm_fold.h).
  struct Fold {
    size_t layer_node = 0, norm_node = 0;
    size_t last = 0;                  // the normalization, or the activation it absorbs
    std::string activation = "linear";
    mutable std::mutex mutex;
    mutable std::shared_ptr<const Layer> folded;  // for the weights at `versions`
    mutable uint64_t versions = 0;
  };
  static constexpr int kNoFold = -1, kFoldedAway = -2;
  // The one node that reads node k's output (-1: none, several, or k is an output).
  int sole_consumer(size_t k) const;
  void find_folds();
  // A MaxPooling2D that training and inference run inside the layer before it
  // (Layer::max_pool_fusable): the pooling node right after the layer, the
  // only reader of its output.
  struct PoolFusion {
    MaxPoolFusable* layer = nullptr;  // layer_node's
    size_t layer_node = 0, pool_node = 0;
    kernels::PoolGeometry geom{};
  };
  void find_pool_fusions();
  // The node that checks the model input's finiteness as it reads it: the
  // first node, if it reads the only input and its layer can
  // (Layer::checks_input_while_reading); else -1, and check_inputs scans.
  void find_input_checker();
  // The first nodes, as far as they form a chain from the model input that
  // keeps an image's rows (Layer::row_op), with a convolution among them:
  // batch-1 inference on several threads runs them in bands of rows
  // (core/row_bands.h), each band on one thread, and the nodes after them
  // as usual. None in a fold or a pool fusion, or with an activity penalty.
  void find_row_ops();
  // Band by band on threads at once: x the model input, y the output of
  // the last banded node (b.end - 1).
  void run_row_bands(const float* x, float* y, const RowBands& b) const;
  // Which node outputs of a folded inference run may share a buffer: a
  // node's output goes to a slot freed when every reader of an earlier
  // output in it has run (model outputs keep theirs).
  void plan_inference_buffers();
  // The same for a training step, over its forward and backward steps:
  // a node's output lives until the last step that reads it (a later
  // forward, or a backward that reads it: Layer::backward_reads), its
  // gradient from its last reader's backward to its own.
  void plan_training_buffers();
  // Node k's output gradient, viewing its slot (shaped like its output).
  Tensor& gradient_buffer(ExecContext& c, size_t k) const;
  // The fold's layer for the weights as they are now (built again after any
  // weight or moving statistic changed).
  std::shared_ptr<const Layer> folded_layer(const Fold& f) const;

  std::vector<Node> nodes_;
  std::vector<std::unique_ptr<Fold>> folds_;
  std::vector<int> fold_role_;  // per node: the fold it starts, kFoldedAway or kNoFold
  std::vector<PoolFusion> pool_fusions_;
  std::vector<int> pool_role_;  // per node: the pool fusion it starts, kFoldedAway or kNoFold
  int input_checker_ = -1;
  std::vector<pcvm::Op> row_ops_;  // find_row_ops: nodes [0, size) keep rows
  int64_t row_work_ = 0;            // their multiply-adds for one sample, about
  RowBandsCache row_bands_;
  std::vector<int> infer_slot_;       // per node: its inference slot (-1: not written)
  std::vector<int64_t> slot_values_;  // per slot: the most values per sample it holds
  // Per node k: train_slot_[k] its output's training slot, train_slot_[n + k]
  // its gradient's.
  std::vector<int> train_slot_;
  std::vector<int64_t> train_slot_values_;  // per training slot: values per sample
  std::vector<Shape> input_shapes_;
  std::vector<int> outputs_;  // node indices
  std::vector<OutputLoss> losses_;  // one per output once compiled
  std::unique_ptr<Optimizer> optimizer_;
  Attrs loss_attrs_, optimizer_attrs_;
  Attrs meta_;
  std::vector<Param*> params_;         // trainable or frozen, not state
  std::vector<const Layer*> param_layer_;  // the layer of params_[i]
  int threads_ = 0;             // 0: the global setting
  uint64_t step_ = 0;

  // Inference holds weights_ shared, a training step or a weight write holds
  // it exclusively, so a reader never sees half an update; a waiting step
  // goes before new readers, so predicting threads cannot starve training.
  mutable SharedMutex weights_;
  // The trainer: the thread between begin_training and end_training.
  mutable std::mutex trainer_mutex_;
  // (mutable: a const call in a forked child may drop a trainer that is gone)
  mutable std::thread::id trainer_;
  mutable int trainer_depth_ = 0;
  mutable uint32_t trainer_generation_ = fork_generation();  // see adopt_trainer_after_fork
  void adopt_trainer_after_fork() const;
  ExecContext train_ctx_;
  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<ExecContext>> pool_;
};

}  // namespace pyconv

// Layer: one node of a model graph. It owns its parameters and gradients, and
// runs forward/backward on whole batches. Shapes passed to build() are
// per-sample (no batch axis); tensors passed to forward() have the batch axis.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "core/tensor.h"
#include "graph/attrs.h"
#include "graph/constraints.h"
#include "kernels/pool.h"
#include "micro/pcvm.h"
#include "ops/activation.h"

namespace pyconv {

struct Param {
  std::string name;
  Tensor value;
  Tensor grad;
  // Bumped by every write to value after build (optimizer steps, set
  // weights): caches derived from the value compare it to stay current.
  uint64_t version = 0;
  // The optimizer updates only trainable parameters (Keras's
  // layer.trainable = False freezes them).
  bool trainable = true;
  // Non-trainable state a layer keeps itself (moving statistics): it has no
  // gradient and no optimizer ever sees it.
  bool is_state = false;
  // Weight penalties added to the loss: l1 * sum |w| + l2 * sum w^2 (Keras's
  // kernel_regularizer / bias_regularizer).
  float l1 = 0.f, l2 = 0.f;
  // Applied after every optimizer step (Keras's kernel_constraint /
  // bias_constraint).
  Constraint constraint;
};

// The attribute keys of kernel and bias regularizers and constraints, for
// check_known lists of layers that take them: keys plus
// "kernel_regularizer_l1", "..._l2", "bias_regularizer_l1", "..._l2",
// "kernel_constraint" and "bias_constraint".
std::vector<std::string> with_regularizers(std::vector<std::string> keys);

// What one run of a layer keeps for itself (argmax indices, dropout masks,
// workspaces). It lives in an execution context, not in the layer, so that
// many contexts can run one model at once.
struct LayerState {
  virtual ~LayerState() = default;
  // Bytes held, and a way to give them back after a one-off huge batch.
  virtual size_t bytes() const { return 0; }
  virtual void release() {}
  // What a training forward kept of the activation's input, for an
  // activation whose derivative needs it (gelu, swish): every layer has it.
  Tensor pre_activation;
};

struct RunContext {
  int threads = 1;
  bool training = false;
  // The random augmentation layers transform: in training, and in Keras's
  // model(x) / layer(x) on arrays (their call defaults to training=True).
  bool augment = false;
  uint64_t step = 0;             // training steps taken so far (or a call's key): keys random draws
  int call = 0;                  // which call of a shared layer runs (0: the first): too
  LayerState* state = nullptr;   // this layer's state in the running context
  // Set for a layer that checks_input_while_reading(), in place of the
  // graph's own scan of the model input: forward throws ValueError
  // (require_finite_input) if in[0] holds a NaN or an infinity.
  bool check_input = false;
};

class Layer {
 public:
  explicit Layer(const Attrs& attrs);
  virtual ~Layer() = default;

  std::string type() const { return attrs_.type(); }
  std::string name() const { return attrs_.name(); }
  const std::string& who() const { return who_; }
  const Attrs& attrs() const { return attrs_; }

  // Checks the input shapes, creates the parameters and returns the output
  // shape. Initial values are drawn from rng; a null rng leaves them unset
  // (shape inference only). Throws ShapeError naming the layer.
  virtual Shape build(const std::vector<Shape>& inputs, Rng* rng) = 0;
  // Output shape and parameter shapes (params()) for these inputs, with
  // nothing allocated: checks a configuration without paying for it.
  Shape infer(const std::vector<Shape>& inputs);

  // The per-run state forward/backward find in RunContext::state (a plain
  // LayerState if the layer keeps nothing of its own).
  virtual std::unique_ptr<LayerState> new_state() const { return nullptr; }
  // out is already sized to (N,) + output shape. Const: many threads may run
  // one layer at once, each with its own state.
  virtual void forward(const std::vector<const Tensor*>& in, Tensor& out,
                       const RunContext& ctx) const = 0;
  // Builds what inference derives from the weights (pre-packed kernels), as
  // the first forward would; called at model load so that the first predict
  // is not slower than the next. Thread-safe, as forward is.
  virtual void prepare_inference() const {}
  // Gradients of sum(out * dout): param grads are overwritten, din[i] is
  // written when non-null. dout may be used as scratch. Training holds the
  // model alone, so backward may write the params' grads.
  virtual void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                        const std::vector<Tensor*>& din, const RunContext& ctx) = 0;

  // Bands of rows (core/row_bands.h): a layer that keeps an image's rows (a
  // convolution, a pooling, an activation) describes itself as a pcvm op
  // (its type, shapes and window) and returns true. forward_rows then runs
  // it on one sample's band on the calling thread: `band` is that op cropped
  // to the band's rows, x and y the band's input and output rows. It gives
  // the values forward gives on those rows, bit for bit.
  virtual bool row_op(pcvm::Op* op) const { (void)op; return false; }
  virtual void forward_rows(const pcvm::Op& band, const float* x, float* y) const {
    (void)band, (void)x, (void)y;
  }

  // The layer as one that can run the MaxPooling2D after it inside its own
  // forward and backward (Graph's pool fusions), or null.
  virtual class MaxPoolFusable* max_pool_fusable() { return nullptr; }

  // Whether forward honours RunContext::check_input at no extra pass over
  // memory: the graph then leaves a model input's finiteness to the layer
  // that reads it first (an activation-only model reads it once, not twice).
  virtual bool checks_input_while_reading() const { return false; }

  // What backward reads of the forward pass: the inputs' values, the
  // output's. A training step reuses the buffers of values no later step
  // reads, so a layer must not declare less than its backward reads.
  // in_place: backward may write its first input's gradient over its
  // output's gradient (din[0] then holds dout's data): an element-wise pass
  // that reads each dout value before it writes that din value (and reads
  // dout for no other input after), a copy, or a sum's dout itself. The
  // training plan gives such a pair one buffer, when the two are the same
  // size: that spares the pass a fresh buffer's write-allocate reads (and
  // Flatten its copy, a residual sum one of its two).
  struct BackwardReads {
    bool inputs = true, output = true;
    bool in_place = false;
  };
  virtual BackwardReads backward_reads() const { return {}; }

  // Keras's activity_regularizer: l1 * sum |y| + l2 * sum y^2 of the
  // layer's output, added to the loss in training and evaluation (any layer
  // takes the attributes "activity_regularizer_l1" and "..._l2").
  float activity_l1() const { return activity_l1_; }
  float activity_l2() const { return activity_l2_; }
  bool regularizes_activity() const { return activity_l1_ != 0.f || activity_l2_ != 0.f; }

  std::vector<Param>& params() { return params_; }
  const std::vector<Param>& params() const { return params_; }
  // Freezes or unfreezes every parameter (not the state).
  void set_trainable(bool trainable);
  bool trainable() const;

  ops::Activation activation() const { return activation_; }
  // The activation forward() must apply: none while it is deferred to the loss.
  ops::Activation output_activation() const {
    return defer_activation_ ? ops::Activation::Linear : activation_;
  }
  // The graph defers a final softmax into the cross-entropy loss: the layer
  // then outputs logits and receives the gradient w.r.t. them.
  void set_defer_activation(bool defer) { defer_activation_ = defer; }

 protected:
  Param& add_param(const std::string& name, const Shape& shape);
  Param& add_state(const std::string& name, const Shape& shape);
  // The layer's state in ctx, of its own type (see new_state).
  template <class State>
  static State& state_of(const RunContext& ctx) {
    return *static_cast<State*>(ctx.state);
  }
  // Whether activation_backward reads the output (swish and gelu read a copy
  // of the input in the state instead; linear reads nothing).
  bool activation_reads_output() const {
    return activation_ != ops::Activation::Linear && !ops::needs_input(activation_);
  }
  // The layer's activation on its output, in place.
  void apply_activation(Tensor& out, const RunContext& ctx) const;
  // dout times the activation's derivative, in place.
  void activation_backward(const Tensor& out, Tensor& dout, const RunContext& ctx) const;

  Attrs attrs_;
  std::string who_;
  ops::Activation activation_ = ops::Activation::Linear;
  bool defer_activation_ = false;
  bool trainable_ = true;
  bool shape_only_ = false;  // inside infer(): parameters get shapes, no memory
  float activity_l1_ = 0.f, activity_l2_ = 0.f;
  std::vector<Param> params_;
};

// The MaxPooling2D that alone reads a layer's output fused in (training and
// inference): the layer pools inside its own forward, a few samples at a
// time, so its full-size output and that output's gradient never leave the
// cache.
class MaxPoolFusable {
 public:
  // pooled: (N,) + the pooling's output shape. keep_winners: for a
  // backward pass to come (not inference).
  virtual void forward_max_pooled(const Tensor& x, const kernels::PoolGeometry& pool,
                                  Tensor& pooled, bool keep_winners,
                                  const RunContext& ctx) const = 0;
  // Param grads from the pooled output's gradient (used as scratch); dx when non-null.
  virtual void backward_max_pooled(const Tensor& x, const kernels::PoolGeometry& pool,
                                   const Tensor& pooled, Tensor& dpooled, Tensor* dx,
                                   const RunContext& ctx) = 0;

 protected:
  ~MaxPoolFusable() = default;
};

// Builds a layer from its attributes ("type" picks the class).
std::unique_ptr<Layer> create_layer(const Attrs& attrs);
// Checks the arguments of every "*_initializer" and "*_constraint"
// attribute (before any weight has a shape): ValueError naming the layer.
void check_weight_specs(const Attrs& attrs);
std::vector<std::string> layer_types();

// Fills `t` following a Keras initializer: a name ("glorot_uniform",
// "he_normal", "zeros", ...) or a name with arguments,
// "random_normal(mean=0,stddev=0.05,seed=3)" (graph/initializers.cpp lists
// them). Throws ValueError naming `who` for an unknown name or argument. A
// null rng only checks the spec; a spec's seed, when given, replaces it.
void initialize(Tensor& t, const std::string& initializer, int64_t fan_in, int64_t fan_out,
                Rng* rng, const std::string& who);

}  // namespace pyconv

// Losses, reduced as Keras's "sum_over_batch_size": the mean over samples.
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "core/tensor.h"
#include "graph/attrs.h"
#include "ops/activation.h"

namespace pyconv {

class Loss {
 public:
  virtual ~Loss() = default;
  // Checks target against pred (shapes, label values), returns the mean loss
  // and, when grad is non-null, writes d(mean loss)/d(pred) into it.
  virtual double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const = 0;
  // Throws ShapeError unless the loss suits per-sample predictions of this
  // shape (checked when a model is compiled).
  virtual void check_output(const Shape& /*per_sample*/) const {}
  // Throws ShapeError/ValueError unless target suits predictions of this shape.
  virtual void check_target(const Shape& pred, const Tensor& target) const = 0;
  // Samples whose prediction is right (the "accuracy" metric for this loss).
  virtual int64_t count_correct(const Tensor& pred, const Tensor& target) const = 0;
  // The per-sample target shape for per-sample predictions of `pred` (what a
  // caller handing over raw buffers must size them by).
  virtual Shape target_shape(const Shape& pred) const { return pred; }
  // Cross-entropy on probabilities can take logits instead: the graph then
  // fuses the last layer's softmax (categorical) or sigmoid (binary) into
  // the loss (log-sum-exp, never underflows). Linear: nothing to fuse.
  virtual ops::Activation fusable_activation() const { return ops::Activation::Linear; }
  virtual void use_logits() {}
};

// The loss of a batch whose samples count by weights[n] (one per sample, at
// least 0): sum of weight * the sample's loss over the batch size, as Keras
// weighs samples; grad as compute writes it, each sample's part scaled by its
// weight.
double weighted_loss(const Loss& loss, const Tensor& pred, const Tensor& target, const float* weights,
                     Tensor* grad);

// {"type": "sparse_categorical_crossentropy" | "categorical_crossentropy" |
//  "binary_crossentropy" (these three take "from_logits": bool) | "mse" |
//  "mae" | "huber" ("delta": float) | "hinge" | "categorical_hinge"}. Throws ValueError for unknown types
// and for keys the type does not take.
std::unique_ptr<Loss> make_loss(const Attrs& attrs);

// The losses of a model with several outputs, each with its weight in the
// total (Keras's loss_weights), as one attrs map (what a model file keeps):
// {"type": "per_output", "count": n, "<k>/<key>": output k's loss attrs,
// "<k>/weight": its weight}.
Attrs pack_output_losses(const std::vector<Attrs>& losses, const std::vector<double>& weights);
// The other way, for a model with `outputs` outputs. A plain loss's attrs is
// that loss on every output, each with weight 1. Throws ValueError for a
// count that does not match or a weight that is negative or not finite.
std::vector<std::pair<Attrs, double>> unpack_output_losses(const Attrs& attrs, size_t outputs);

}  // namespace pyconv

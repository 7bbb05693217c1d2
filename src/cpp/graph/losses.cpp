#include "graph/losses.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace pyconv {

namespace {

constexpr float kEps = 1e-7f;  // Keras's epsilon for clipping probabilities

int64_t argmax(const float* v, int64_t n) {
  return std::max_element(v, v + n) - v;
}

void check_batch(const Shape& pred, const Tensor& target, const std::string& who) {
  if (target.ndim() == 0 || target.dim(0) != pred[0])
    throw ShapeError(cat(who, ": expected ", pred[0], " targets (one per sample), received ",
                         target.ndim() ? target.dim(0) : 0, " (target shape ",
                         shape_str(target.shape()), ")"));
}

// Row-wise log-sum-exp of logits as (max, log of the shifted sum), kept apart
// because adding them in float32 loses the small part when |max| is large.
// Also leaves softmax(z) in `prob` when non-null.
struct LogSumExp {
  float max;
  double log_sum;
};
LogSumExp log_sum_exp(const float* z, int64_t k, float* prob) {
  const float m = *std::max_element(z, z + k);
  double s = 0.0;
  for (int64_t j = 0; j < k; ++j) s += std::exp(static_cast<double>(z[j] - m));
  if (prob)
    for (int64_t j = 0; j < k; ++j)
      prob[j] = static_cast<float>(std::exp(static_cast<double>(z[j] - m)) / s);
  return {m, std::log(s)};
}

class CrossEntropy : public Loss {
 public:
  CrossEntropy(bool sparse, bool from_logits) : sparse_(sparse), logits_(from_logits) {}

  ops::Activation fusable_activation() const override {
    return logits_ ? ops::Activation::Linear : ops::Activation::Softmax;
  }
  Shape target_shape(const Shape& pred) const override { return sparse_ ? Shape{} : pred; }
  void check_output(const Shape& per_sample) const override {
    if (per_sample.size() != 1)
      throw ShapeError(cat(who(), ": expected model outputs of shape (N, classes), received ",
                           batch_shape_str(per_sample), "; add a Flatten (or "
                           "GlobalAveragePooling2D) layer before the last Dense"));
  }
  void use_logits() override { logits_ = true; }

  double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const override {
    check_target(pred.shape(), target);
    const int64_t N = pred.dim(0), K = pred.dim(-1);
    double total = 0.0;
    for (int64_t n = 0; n < N; ++n) {
      const float* p = pred.data() + n * K;
      const float* t = target.data() + (sparse_ ? n : n * K);
      float* g = grad ? grad->data() + n * K : nullptr;
      total += logits_ ? row_from_logits(p, t, K, g) : row_from_probs(p, t, K, g);
      if (g)
        for (int64_t j = 0; j < K; ++j) g[j] /= static_cast<float>(N);
    }
    return total / static_cast<double>(N);
  }

  int64_t count_correct(const Tensor& pred, const Tensor& target) const override {
    const int64_t N = pred.dim(0), K = pred.dim(-1);
    int64_t correct = 0;
    for (int64_t n = 0; n < N; ++n) {
      const int64_t label = sparse_ ? static_cast<int64_t>(target.data()[n])
                                    : argmax(target.data() + n * K, K);
      correct += argmax(pred.data() + n * K, K) == label;
    }
    return correct;
  }

 private:
  const char* who() const {
    return sparse_ ? "sparse_categorical_crossentropy" : "categorical_crossentropy";
  }

  void check_target(const Shape& pred, const Tensor& target) const override {
    if (pred.size() != 2)
      throw ShapeError(cat(who(), ": expected predictions of shape (N, classes), received ",
                           shape_str(pred)));
    check_batch(pred, target, who());
    const int64_t N = pred[0], K = pred[1];
    if (!sparse_) {
      if (target.shape() != pred)
        throw ShapeError(cat(who(), ": expected one-hot targets of shape ",
                             shape_str(pred), ", received ", shape_str(target.shape()),
                             "; use sparse_categorical_crossentropy for integer labels"));
      return;
    }
    if (target.numel() != N)
      throw ShapeError(cat(who(), ": expected integer labels of shape (", N, ",), received ",
                           shape_str(target.shape()),
                           "; use categorical_crossentropy for one-hot targets"));
    for (int64_t n = 0; n < N; ++n) {
      const float v = target.data()[n];
      if (!(v >= 0.f && v < static_cast<float>(K)) || v != std::floor(v))
        throw ValueError(cat(who(), ": expected integer labels in [0, ", K, "), received ", v,
                             " at index ", n));
    }
  }

  // Sparse labels are one-hot rows with a single 1 at `t[0]`.
  float weight(const float* t, int64_t j) const {
    return sparse_ ? (j == static_cast<int64_t>(t[0]) ? 1.f : 0.f) : t[j];
  }

  double row_from_logits(const float* z, const float* t, int64_t K, float* g) const {
    const LogSumExp lse = log_sum_exp(z, K, g);  // g holds softmax(z) when wanted
    double loss = 0.0, tsum = 0.0;
    for (int64_t j = 0; j < K; ++j) {
      const float w = weight(t, j);
      if (w == 0.f) continue;
      loss += w * (static_cast<double>(lse.max - z[j]) + lse.log_sum);
      tsum += w;
    }
    if (g)
      for (int64_t j = 0; j < K; ++j) g[j] = g[j] * static_cast<float>(tsum) - weight(t, j);
    return loss;
  }

  // Keras: normalise the row to sum 1, clip to [eps, 1 - eps], -sum(t log q).
  double row_from_probs(const float* p, const float* t, int64_t K, float* g) const {
    double s = 0.0;
    for (int64_t j = 0; j < K; ++j) s += p[j];
    const float S = static_cast<float>(s);
    double loss = 0.0, live = 0.0;  // live: weight on unclipped entries
    for (int64_t j = 0; j < K; ++j) {
      const float w = weight(t, j);
      const float q = p[j] / S;
      const float qc = std::min(std::max(q, kEps), 1.f - kEps);
      loss -= w * std::log(static_cast<double>(qc));
      if (g) g[j] = (q == qc && w != 0.f) ? -w / p[j] : 0.f;
      if (q == qc) live += w;
    }
    if (g)
      for (int64_t j = 0; j < K; ++j) g[j] += static_cast<float>(live) / S;
    return loss;
  }

  bool sparse_, logits_;
};

// Shared by MSE and hinge: targets match predictions element for element.
void check_same_size(const Shape& pred, const Tensor& target, const char* who) {
  check_batch(pred, target, who);
  if (target.numel() != shape_numel(pred))
    throw ShapeError(cat(who, ": expected targets of shape ", shape_str(pred),
                         ", received ", shape_str(target.shape())));
}

// Accuracy for regression-style losses: argmax for several outputs, a
// threshold for one.
// target_threshold: where targets split (0/1 targets of logits split at 0.5).
int64_t count_thresholded(const Tensor& pred, const Tensor& target, float threshold,
                          float target_threshold) {
  const int64_t N = pred.dim(0), K = pred.numel() / N;
  int64_t correct = 0;
  for (int64_t n = 0; n < N; ++n) {
    const float* p = pred.data() + n * K;
    const float* t = target.data() + n * K;
    correct += K == 1 ? (p[0] > threshold) == (t[0] > target_threshold)
                      : argmax(p, K) == argmax(t, K);
  }
  return correct;
}
int64_t count_thresholded(const Tensor& pred, const Tensor& target, float threshold) {
  return count_thresholded(pred, target, threshold, threshold);
}

// A loss that is the mean over elements of term(p, t): targets match the
// predictions element for element, and the gradient is term's derivative
// over the element count.
class ElementwiseLoss : public Loss {
 public:
  explicit ElementwiseLoss(const char* name) : name_(name) {}

  double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const override {
    check_target(pred.shape(), target);
    const int64_t n = pred.numel();
    const bool flag = flag_for(target);
    const float scale = 1.f / static_cast<float>(n);
    double total = 0.0;
    for (int64_t i = 0; i < n; ++i) {
      float d = 0.f;
      total += term(pred.data()[i], target.data()[i], flag, &d);
      if (grad) grad->data()[i] = scale * d;
    }
    return total / static_cast<double>(n);
  }
  void check_target(const Shape& pred, const Tensor& target) const override {
    check_same_size(pred, target, name_);
  }
  int64_t count_correct(const Tensor& pred, const Tensor& target) const override {
    return count_thresholded(pred, target, 0.5f);
  }

 protected:
  // One element's loss, and in *d its derivative with respect to p; flag is
  // flag_for(target), worked out once per batch.
  virtual double term(float p, float t, bool flag, float* d) const = 0;
  virtual bool flag_for(const Tensor&) const { return false; }

 private:
  const char* name_;
};

class MeanSquaredError : public ElementwiseLoss {
 public:
  MeanSquaredError() : ElementwiseLoss("mean_squared_error") {}

 protected:
  double term(float p, float t, bool, float* d) const override {
    const float diff = p - t;
    *d = 2.f * diff;
    return static_cast<double>(diff) * diff;
  }
};

// Keras's hinge: mean(max(1 - t * p, 0)); 0/1 targets become -1/+1.
class Hinge : public ElementwiseLoss {
 public:
  Hinge() : ElementwiseLoss("hinge") {}
  int64_t count_correct(const Tensor& pred, const Tensor& target) const override {
    return count_thresholded(pred, target, flag_for(target) ? 0.5f : 0.f);
  }

 protected:
  double term(float p, float target, bool binary, float* d) const override {
    const float t = binary ? 2.f * target - 1.f : target;
    const float margin = 1.f - t * p;
    *d = margin > 0.f ? -t : 0.f;
    return std::max(margin, 0.f);
  }
  bool flag_for(const Tensor& t) const override {  // 0/1 targets
    return std::all_of(t.data(), t.data() + t.numel(), [](float v) { return v == 0.f || v == 1.f; });
  }
};

// Keras's binary_crossentropy: the mean over elements of -(t log p + (1 - t)
// log(1 - p)), p clipped to [eps, 1 - eps]; on logits z (from_logits, or a
// fused sigmoid) max(z, 0) - z t + log(1 + e^-|z|), which never overflows.
class BinaryCrossEntropy : public ElementwiseLoss {
 public:
  explicit BinaryCrossEntropy(bool logits)
      : ElementwiseLoss("binary_crossentropy"), logits_(logits) {}

  void check_target(const Shape& pred, const Tensor& target) const override {
    ElementwiseLoss::check_target(pred, target);
    for (int64_t i = 0; i < target.numel(); ++i)
      if (!(target.data()[i] >= 0.f && target.data()[i] <= 1.f))
        throw ValueError(cat("binary_crossentropy: targets must be in [0, 1], received ",
                             target.data()[i]));
  }
  int64_t count_correct(const Tensor& pred, const Tensor& target) const override {
    return count_thresholded(pred, target, logits_ ? 0.f : 0.5f, 0.5f);
  }
  ops::Activation fusable_activation() const override {
    return logits_ ? ops::Activation::Linear : ops::Activation::Sigmoid;
  }
  void use_logits() override { logits_ = true; }

 protected:
  double term(float v, float t, bool, float* d) const override {
    if (logits_) {
      *d = sigmoid(v) - t;
      return std::max(v, 0.f) - v * t + std::log1p(std::exp(-std::fabs(v)));
    }
    const float p = std::min(std::max(v, kEps), 1.f - kEps);
    *d = p == v ? (p - t) / (p * (1.f - p)) : 0.f;  // clipped: no gradient, as in Keras
    return -(t * std::log(static_cast<double>(p)) + (1 - t) * std::log1p(-static_cast<double>(p)));
  }

 private:
  static float sigmoid(float v) {
    return v >= 0 ? 1.f / (1.f + std::exp(-v)) : std::exp(v) / (1.f + std::exp(v));
  }
  bool logits_;
};

// mean |p - t| (mae) and Huber's loss (0.5 d^2 within delta, linear beyond).
class AbsoluteOrHuber : public ElementwiseLoss {
 public:
  explicit AbsoluteOrHuber(double delta)  // 0: mae
      : ElementwiseLoss(delta > 0 ? "huber" : "mean_absolute_error"),
        delta_(static_cast<float>(delta)) {}

 protected:
  double term(float p, float t, bool, float* d) const override {
    const float diff = p - t, a = std::fabs(diff);
    const float sign = diff > 0.f ? 1.f : (diff < 0.f ? -1.f : 0.f);
    if (delta_ > 0.f && a <= delta_) {
      *d = diff;
      return 0.5 * static_cast<double>(diff) * diff;
    }
    *d = sign * (delta_ > 0.f ? delta_ : 1.f);
    return delta_ > 0.f ? delta_ * (a - 0.5 * delta_) : a;
  }

 private:
  float delta_;
};

// Keras's categorical_hinge: max(max((1 - t) p) - sum(t p) + 1, 0) per sample.
class CategoricalHinge : public Loss {
 public:
  double compute(const Tensor& pred, const Tensor& target, Tensor* grad) const override {
    check_target(pred.shape(), target);
    const int64_t N = pred.dim(0), K = pred.numel() / N;
    const float scale = 1.f / static_cast<float>(N);
    double total = 0.0;
    if (grad) grad->zero();
    for (int64_t n = 0; n < N; ++n) {
      const float* p = pred.data() + n * K;
      const float* t = target.data() + n * K;
      float pos = 0.f, neg = -std::numeric_limits<float>::infinity();
      int64_t worst = 0;
      for (int64_t j = 0; j < K; ++j) {
        pos += t[j] * p[j];
        const float v = (1.f - t[j]) * p[j];
        if (v > neg) neg = v, worst = j;
      }
      const float loss = neg - pos + 1.f;
      if (loss <= 0.f) continue;
      total += loss;
      if (!grad) continue;
      float* g = grad->data() + n * K;
      for (int64_t j = 0; j < K; ++j) g[j] = -scale * t[j];
      g[worst] += scale * (1.f - t[worst]);
    }
    return total / static_cast<double>(N);
  }
  void check_target(const Shape& pred, const Tensor& target) const override {
    check_same_size(pred, target, "categorical_hinge");
  }
  int64_t count_correct(const Tensor& pred, const Tensor& target) const override {
    return count_thresholded(pred, target, 0.f);
  }
};

}  // namespace

std::unique_ptr<Loss> make_loss(const Attrs& a) {
  const std::string type = a.type();
  const bool sparse = type == "sparse_categorical_crossentropy";
  if (sparse || type == "categorical_crossentropy") {
    a.check_known({"from_logits"});  // a misspelt argument must not be dropped silently
    return std::make_unique<CrossEntropy>(sparse, a.get_bool("from_logits", false));
  }
  if (type == "binary_crossentropy") {
    a.check_known({"from_logits"});
    return std::make_unique<BinaryCrossEntropy>(a.get_bool("from_logits", false));
  }
  if (type == "huber") {
    a.check_known({"delta"});
    const double delta = a.get_float("delta", 1.0);
    if (!(delta > 0 && std::isfinite(delta)))
      throw ValueError(cat("huber: delta must be positive, received ", delta));
    return std::make_unique<AbsoluteOrHuber>(delta);
  }
  a.check_known({});
  if (type == "mse" || type == "mean_squared_error") return std::make_unique<MeanSquaredError>();
  if (type == "mae" || type == "mean_absolute_error") return std::make_unique<AbsoluteOrHuber>(0.0);
  if (type == "hinge") return std::make_unique<Hinge>();
  if (type == "categorical_hinge") return std::make_unique<CategoricalHinge>();
  throw ValueError(cat("unknown loss '", type,
                       "'; expected one of 'sparse_categorical_crossentropy', "
                       "'categorical_crossentropy', 'binary_crossentropy', 'mse', 'mae', "
                       "'huber', 'hinge', 'categorical_hinge'"));
}

namespace {
constexpr const char* kPerOutput = "per_output";

std::string output_key(size_t k, const std::string& key) { return cat(k, "/", key); }
}  // namespace

Attrs pack_output_losses(const std::vector<Attrs>& losses, const std::vector<double>& weights) {
  if (losses.size() != weights.size())
    throw ValueError(cat("expected one loss weight per loss (", losses.size(), "), received ",
                         weights.size()));
  Attrs packed;
  packed.set("type", std::string(kPerOutput));
  packed.set("count", static_cast<int64_t>(losses.size()));
  for (size_t k = 0; k < losses.size(); ++k) {
    for (const auto& [key, value] : losses[k].values()) packed.set(output_key(k, key), value);
    packed.set(output_key(k, "weight"), weights[k]);
  }
  return packed;
}

std::vector<std::pair<Attrs, double>> unpack_output_losses(const Attrs& attrs, size_t outputs) {
  if (attrs.type() != kPerOutput) return std::vector<std::pair<Attrs, double>>(outputs, {attrs, 1.0});
  const int64_t count = attrs.get_int("count");
  if (count < 0 || static_cast<size_t>(count) != outputs)
    throw ValueError(cat("expected a loss for each of the model's ", outputs,
                         " outputs, received ", count));
  std::vector<std::pair<Attrs, double>> out(outputs, {Attrs(), 1.0});
  for (const auto& [key, value] : attrs.values()) {
    if (key == "type" || key == "count") continue;
    const size_t slash = key.find('/');
    size_t k = outputs;
    if (slash != std::string::npos && slash > 0 && slash < 10 &&
        key.find_first_not_of("0123456789") == slash)
      k = std::stoul(key.substr(0, slash));
    if (k >= outputs) throw ValueError(cat("per-output loss: unexpected key '", key, "'"));
    const std::string sub = key.substr(slash + 1);
    if (sub == "weight") {
      const double w = attrs.get_float(key, 1.0);
      if (!(w >= 0.0 && std::isfinite(w)))
        throw ValueError(cat("loss weight ", k, " must be a finite number >= 0, received ", w));
      out[k].second = w;
    } else {
      out[k].first.set(sub, value);
    }
  }
  for (size_t k = 0; k < outputs; ++k)
    if (out[k].first.type().empty())
      throw ValueError(cat("per-output loss: output ", k, " has no loss type"));
  return out;
}

double weighted_loss(const Loss& loss, const Tensor& pred, const Tensor& target, const float* weights,
                     Tensor* grad) {
  loss.check_target(pred.shape(), target);
  const int64_t n = pred.dim(0);
  Shape pred_row = pred.shape(), target_row = target.shape();
  pred_row[0] = target_row[0] = 1;
  const int64_t pred_size = pred.numel() / n, target_size = target.numel() / n;
  double total = 0.0;
  // Each sample on its own (a loss's mean over one sample is its loss), then weighed.
  for (int64_t i = 0; i < n; ++i) {
    const Tensor p = Tensor::view(const_cast<float*>(pred.data()) + i * pred_size, pred_row);
    const Tensor t = Tensor::view(const_cast<float*>(target.data()) + i * target_size, target_row);
    Tensor g = grad ? Tensor::view(grad->data() + i * pred_size, pred_row) : Tensor();
    total += weights[i] * loss.compute(p, t, grad ? &g : nullptr);
    if (grad) {
      const float scale = weights[i] / static_cast<float>(n);
      float* d = grad->data() + i * pred_size;
      for (int64_t j = 0; j < pred_size; ++j) d[j] *= scale;
    }
  }
  return total / static_cast<double>(n);
}

}  // namespace pyconv

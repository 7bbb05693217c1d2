// Keras's preprocessing layers that change values, not positions:
//   Rescaling       x * scale + offset (at inference too).
//   Normalization   (x - mean) / max(sqrt(variance), 1e-7) per channel (or
//                   for the whole input), mean and variance being state that
//                   Python's adapt() or the constructor sets; invert undoes it.
//   RandomContrast  in training only: each image's channels moved away from
//                   or toward their mean by a random factor in
//                   [1 - lower, 1 + upper], then clipped to the value range.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "core/training.h"
#include "graph/layer.h"
#include "graph/layers/random_draws.h"

namespace pyconv {

namespace {

// y = x * scale[c] + shift[c] along the last axis (one value each when the
// vectors hold one), for forward; backward passes the same scale.
void scale_shift(const float* x, float* y, int64_t n, const std::vector<float>& scale,
                 const std::vector<float>& shift, int threads) {
  // The maps tiled to rows of at least 64 values: few channels (a grey
  // image has one) still make an inner loop long enough to vectorise.
  const int64_t C = static_cast<int64_t>(scale.size());
  const int64_t L = C * std::max<int64_t>(1, 64 / C);
  std::vector<float> s(static_cast<size_t>(L)), t(static_cast<size_t>(L));
  for (int64_t c = 0; c < L; ++c) s[c] = scale[c % C], t[c] = shift[c % C];
  const int64_t rows = n / L;
  parallel_blocks(threads_for(n, threads), rows, std::max<int64_t>(1, 16384 / L),
                  [&](int64_t lo, int64_t hi) {
                    for (int64_t r = lo; r < hi; ++r)
#pragma omp simd
                      for (int64_t c = 0; c < L; ++c) y[r * L + c] = x[r * L + c] * s[c] + t[c];
                  });
  for (int64_t i = rows * L; i < n; ++i) y[i] = x[i] * s[i % L] + t[i % L];  // n % L values
}

class RescalingLayer : public Layer {
 public:
  explicit RescalingLayer(const Attrs& a) : Layer(a) {
    a.check_known({"scale", "offset"});
    scale_ = static_cast<float>(a.get_finite("scale", 1.0));
    offset_ = static_cast<float>(a.get_finite("offset", 0.0));
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override { return inputs[0]; }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    scale_shift(in[0]->data(), out.data(), out.numel(), {scale_}, {offset_}, ctx.threads);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (din[0]) scale_shift(dout.data(), din[0]->data(), dout.numel(), {scale_}, {0.f}, ctx.threads);
  }

 private:
  float scale_ = 1.f, offset_ = 0.f;
};

class NormalizationLayer : public Layer {
 public:
  explicit NormalizationLayer(const Attrs& a) : Layer(a) {
    a.check_known({"per_channel", "invert"});
    per_channel_ = a.get_bool("per_channel", true);
    invert_ = a.get_bool("invert", false);
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    if (per_channel_ && inputs[0].empty())
      throw ShapeError(cat(who(), ": expected input with a channel axis, received ",
                           batch_shape_str(inputs[0])));
    const int64_t C = per_channel_ ? inputs[0].back() : 1;
    initialize(add_state("mean", {C}).value, "zeros", 1, 1, rng, who());
    initialize(add_state("variance", {C}).value, "ones", 1, 1, rng, who());
    return inputs[0];
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    std::vector<float> scale, shift;
    coefficients(scale, shift);
    scale_shift(in[0]->data(), out.data(), out.numel(), scale, shift, ctx.threads);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    std::vector<float> scale, shift;
    coefficients(scale, shift);
    std::fill(shift.begin(), shift.end(), 0.f);
    scale_shift(dout.data(), din[0]->data(), dout.numel(), scale, shift, ctx.threads);
  }

 private:
  // The affine map the layer applies: y = x * scale + shift per channel.
  void coefficients(std::vector<float>& scale, std::vector<float>& shift) const {
    const Tensor& mean = params_[0].value;
    const Tensor& var = params_[1].value;
    const int64_t C = mean.numel();
    scale.resize(C);
    shift.resize(C);
    for (int64_t c = 0; c < C; ++c) {
      const float v = var.data()[c];
      if (!(v >= 0.f) || !std::isfinite(v))
        throw ValueError(cat(who(), ": variance must be finite and non-negative, found ", v,
                             " for channel ", c, "; set it with adapt() or the constructor"));
      // Keras's max(sqrt(variance), epsilon): a constant channel is not divided by zero.
      const float std = std::max(std::sqrt(v), 1e-7f);
      const float m = mean.data()[c];
      scale[c] = invert_ ? std : 1.f / std;
      shift[c] = invert_ ? m : -m / std;
    }
  }

  bool per_channel_ = true, invert_ = false;
};

class RandomContrastLayer : public Layer {
 public:
  explicit RandomContrastLayer(const Attrs& a) : Layer(a), seed_(a) {
    a.check_known({"factor_lower", "factor_upper", "value_range_lower", "value_range_upper",
                   "seed"});
    lower_ = static_cast<float>(a.get_finite("factor_lower", 0.0));
    upper_ = static_cast<float>(a.get_finite("factor_upper", 0.0));
    if (!(lower_ >= 0.f && lower_ <= 1.f && upper_ >= 0.f))
      throw ValueError(cat(who(), ": factor must give 0 <= lower <= 1 and upper >= 0, received "
                                  "lower ", lower_, " and upper ", upper_));
    min_ = static_cast<float>(a.get_finite("value_range_lower", 0.0));
    max_ = static_cast<float>(a.get_finite("value_range_upper", 255.0));
    if (!(min_ < max_))
      throw ValueError(cat(who(), ": value_range must be (low, high) with low < high, received (",
                           min_, ", ", max_, ")"));
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    if (inputs[0].size() != 3)
      throw ShapeError(cat(who(), ": expected input of shape (N, H, W, C), received ",
                           batch_shape_str(inputs[0])));
    seed_.draw(attrs_, rng);
    return inputs[0];
  }

  BackwardReads backward_reads() const override { return {true, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    if (!(ctx.training || ctx.augment)) {
      copy_through(out.data(), in[0]->data(), out.numel(), ctx.threads);
      return;
    }
    run(*in[0], &out, nullptr, nullptr, ctx);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    if (!(ctx.training || ctx.augment)) {
      std::memcpy(din[0]->data(), dout.data(), sizeof(float) * dout.numel());
      return;
    }
    run(*in[0], nullptr, &dout, din[0], ctx);
  }

 private:
  // Forward (out) or backward (dout -> dx). y = clip((x - m) * f + m) with m
  // the mean of the image's channel, so dx_j = f * g_j + (1 - f) * mean(g),
  // g being dout where y was not clipped and 0 where it was.
  void run(const Tensor& x, Tensor* out, const Tensor* dout, Tensor* dx,
           const RunContext& ctx) const {
    const int64_t N = x.dim(0), C = x.dim(3), HW = x.dim(1) * x.dim(2);
    const uint64_t key = seed_.run_key(ctx);
    parallel_for(threads_for(x.numel(), ctx.threads), N, [&](int64_t n) {
      const float factor = 1.f - lower_ + random_uniform(key, n) * (lower_ + upper_);
      const float* xs = x.data() + n * HW * C;
      std::vector<double> mean(C, 0.0), grad_mean(C, 0.0);
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) mean[c] += xs[p * C + c];
      for (double& m : mean) m /= static_cast<double>(HW);
      auto value = [&](int64_t p, int64_t c) {
        const float m = static_cast<float>(mean[c]);
        return (xs[p * C + c] - m) * factor + m;
      };
      if (out) {
        float* ys = out->data() + n * HW * C;
        for (int64_t p = 0; p < HW; ++p)
          for (int64_t c = 0; c < C; ++c) ys[p * C + c] = std::clamp(value(p, c), min_, max_);
        return;
      }
      const float* gs = dout->data() + n * HW * C;
      float* ds = dx->data() + n * HW * C;
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c) {
          const float v = value(p, c);
          ds[p * C + c] = v >= min_ && v <= max_ ? gs[p * C + c] : 0.f;
          grad_mean[c] += ds[p * C + c];
        }
      for (int64_t c = 0; c < C; ++c)
        grad_mean[c] *= (1.0 - factor) / static_cast<double>(HW);
      for (int64_t p = 0; p < HW; ++p)
        for (int64_t c = 0; c < C; ++c)
          ds[p * C + c] = ds[p * C + c] * factor + static_cast<float>(grad_mean[c]);
    });
  }

  LayerSeed seed_;
  float lower_ = 0.f, upper_ = 0.f, min_ = 0.f, max_ = 255.f;
};

}  // namespace

std::unique_ptr<Layer> make_rescaling(const Attrs& attrs) {
  return std::make_unique<RescalingLayer>(attrs);
}
std::unique_ptr<Layer> make_normalization(const Attrs& attrs) {
  return std::make_unique<NormalizationLayer>(attrs);
}
std::unique_ptr<Layer> make_random_contrast(const Attrs& attrs) {
  return std::make_unique<RandomContrastLayer>(attrs);
}

}  // namespace pyconv

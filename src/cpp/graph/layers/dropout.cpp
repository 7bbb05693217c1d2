// Dropout layer (inverted): in training, zeroes each element with probability
// `rate` and scales the rest by 1/(1-rate); the identity at inference.
// The mask is a hash of (seed, step, element index), so it does not depend on
// the thread count (the rate is rounded to a multiple of 2^-32), and backward
// hashes it again (the graph replays the forward's step) instead of keeping it.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/threads.h"
#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"
#include "graph/layers/random_draws.h"
#include "kernels/dispatch.h"

namespace pyconv {

namespace {

class DropoutLayer : public Layer {
 public:
  explicit DropoutLayer(const Attrs& a) : Layer(a), seed_(a) {
    a.check_known({"rate", "seed", "noise_shape"});
    rate_ = static_cast<float>(a.get_float("rate", -1.0));
    if (!(rate_ >= 0.f && rate_ < 1.f))
      throw ValueError(cat(who(), ": rate must be in [0, 1), received ", a.get_float("rate", -1.0)));
    if (a.has("noise_shape"))
      throw ValueError(cat(who(), ": noise_shape is not supported; expected it to be omitted"));
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    seed_.draw(attrs_, rng);
    return inputs[0];
  }

  BackwardReads backward_reads() const override { return {false, false}; }
  bool backward_in_place() const override { return true; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t n = out.numel();
    if (!ctx.training || rate_ == 0.f) {
      std::memcpy(y, x, sizeof(float) * n);
      return;
    }
    const Mask m = mask(ctx);
    const auto kernel = kernels::active().dropout_forward_f32;
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [&](int64_t lo, int64_t hi) {
      kernel(x, y, lo, hi, m.k0, m.k1, m.threshold, m.scale);
    });
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const int64_t n = dout.numel();
    float* dx = din[0]->data();
    if (!ctx.training || rate_ == 0.f) {
      parallel_copy(dx, dout.data(), n, ctx.threads);
      return;
    }
    const Mask m = mask(ctx);
    const float* dy = dout.data();
    const auto kernel = kernels::active().dropout_backward_f32;
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [&](int64_t lo, int64_t hi) {
      kernel(dy, dx, lo, hi, m.k0, m.k1, m.threshold, m.scale);
    });
  }

 private:
  struct Mask {
    uint32_t k0, k1, threshold;
    float scale;
  };

  // The run's key, and the threshold an element's 32 hash bits must reach
  // to be kept (rate * 2^32).
  Mask mask(const RunContext& ctx) const {
    const uint64_t key = seed_.run_key(ctx);
    const auto threshold = static_cast<uint32_t>(
        std::min(static_cast<double>(rate_) * 4294967296.0 + 0.5, 4294967295.0));
    return {static_cast<uint32_t>(key), static_cast<uint32_t>(key >> 32), threshold,
            1.f / (1.f - rate_)};
  }

  float rate_ = 0.5f;
  LayerSeed seed_;
};

}  // namespace

std::unique_ptr<Layer> make_dropout(const Attrs& attrs) {
  return std::make_unique<DropoutLayer>(attrs);
}

}  // namespace pyconv

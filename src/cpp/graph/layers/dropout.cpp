// Dropout layer (inverted): in training, zeroes each element with probability
// `rate` and scales the rest by 1/(1-rate); the identity at inference.
// The mask is a hash of (seed, step, element index), so it does not depend on
// the thread count (the rate is rounded to a multiple of 2^-16), and backward
// hashes it again (the graph replays the forward's step) instead of keeping it.
#include <algorithm>
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

  BackwardReads backward_reads() const override { return {false, false, /*in_place=*/true}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t n = out.numel();
    if (!kTrainingBuilt || !ctx.training || rate_ == 0.f) {  // (a runtime never trains)
      copy_through(y, x, n, ctx.threads);
      return;
    }
    apply(x, y, n, ctx);
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
    apply(dout.data(), dx, n, ctx);  // the forward's mask: the same key
  }

 private:
  // dst = the kept elements of src scaled by 1 / (1 - rate), the rest 0,
  // under the run's key; an element is kept when its 16 hash bits reach
  // rate * 2^16.
  void apply(const float* src, float* dst, int64_t n, const RunContext& ctx) const {
    const uint64_t key = seed_.run_key(ctx);
    const auto k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    const auto threshold = static_cast<uint32_t>(
        std::min(static_cast<double>(rate_) * 65536.0 + 0.5, 65535.0));
    const float scale = 1.f / (1.f - rate_);
    const auto kernel = kernels::active().dropout_f32;
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [&](int64_t lo, int64_t hi) {
      kernel(src, dst, lo, hi, k0, k1, threshold, scale);
    });
  }

  float rate_ = 0.5f;
  LayerSeed seed_;
};

}  // namespace

std::unique_ptr<Layer> make_dropout(const Attrs& attrs) {
  return std::make_unique<DropoutLayer>(attrs);
}

}  // namespace pyconv

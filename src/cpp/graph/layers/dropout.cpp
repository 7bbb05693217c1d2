// Dropout layer (inverted): in training, zeroes each element with probability
// `rate` and scales the rest by 1/(1-rate); the identity at inference.
// The mask is a hash of (seed, step, element index), so it does not depend on
// the thread count (the rate is rounded to a multiple of 2^-32); forward keeps
// it (a byte per element) for backward.
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

  std::unique_ptr<LayerState> new_state() const override { return std::make_unique<MaskState>(); }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const float* x = in[0]->data();
    float* y = out.data();
    const int64_t n = out.numel();
    if (!ctx.training || rate_ == 0.f) {
      std::memcpy(y, x, sizeof(float) * n);
      return;
    }
    const uint64_t key = seed_.run_key(ctx);
    const float scale = 1.f / (1.f - rate_);
    // Kept where the element's 32 hash bits reach rate * 2^32.
    const auto threshold = static_cast<uint32_t>(
        std::min(static_cast<double>(rate_) * 4294967296.0 + 0.5, 4294967295.0));
    std::vector<uint8_t>& kept = state_of<MaskState>(ctx).mask;
    kept.resize(static_cast<size_t>(n));
    uint8_t* mask = kept.data();
    const auto k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
    const auto kernel = kernels::active().dropout_forward_f32;
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [&](int64_t lo, int64_t hi) {
      kernel(x, y, mask, lo, hi, k0, k1, threshold, scale);
    });
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const int64_t n = dout.numel();
    float* dx = din[0]->data();
    if (!ctx.training || rate_ == 0.f) {
      std::memcpy(dx, dout.data(), sizeof(float) * n);
      return;
    }
    const float scale = 1.f / (1.f - rate_);
    const uint8_t* mask = state_of<MaskState>(ctx).mask.data();
    const float* dy = dout.data();
    const auto kernel = kernels::active().dropout_backward_f32;
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [&](int64_t lo, int64_t hi) {
      kernel(dy, mask, dx, lo, hi, scale);
    });
  }

 private:
  struct MaskState : LayerState {
    std::vector<uint8_t> mask;  // the last training forward's kept elements
    size_t bytes() const override { return mask.capacity(); }
    void release() override { std::vector<uint8_t>().swap(mask); }
  };

  float rate_ = 0.5f;
  LayerSeed seed_;
};

}  // namespace

std::unique_ptr<Layer> make_dropout(const Attrs& attrs) {
  return std::make_unique<DropoutLayer>(attrs);
}

}  // namespace pyconv

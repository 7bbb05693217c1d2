// Dropout layer (inverted): in training, zeroes each element with probability
// `rate` and scales the rest by 1/(1-rate); the identity at inference.
// The mask is a hash of (seed, step, element index), so it does not depend on
// the thread count (the rate is rounded to a multiple of 1/65536); forward keeps it (a byte per element) for backward.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"
#include "graph/layers/random_draws.h"

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
    // Each 64-bit hash gives four 16-bit uniforms: a quarter of the hashing.
    const uint32_t threshold = static_cast<uint32_t>(rate_ * 65536.f + 0.5f);
    std::vector<uint8_t>& kept = state_of<MaskState>(ctx).mask;
    kept.resize(static_cast<size_t>(n));
    uint8_t* mask = kept.data();
    const int64_t groups = (n + 3) / 4;
#pragma omp parallel for num_threads(ctx.threads) if (n > 65536)
    for (int64_t q = 0; q < groups; ++q) {
      const uint64_t bits = random_bits(key, static_cast<uint64_t>(q));
      for (int64_t i = q * 4, j = 0; i < std::min(n, q * 4 + 4); ++i, ++j) {
        mask[i] = ((bits >> (16 * j)) & 0xFFFF) >= threshold;
        y[i] = mask[i] ? x[i] * scale : 0.f;
      }
    }
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
#pragma omp parallel for simd num_threads(ctx.threads) if (parallel: n > 65536)
    for (int64_t i = 0; i < n; ++i) dx[i] = mask[i] ? dy[i] * scale : 0.f;
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

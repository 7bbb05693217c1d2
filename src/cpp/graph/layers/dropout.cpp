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

namespace pyconv {

namespace {

// murmur3's 32-bit finaliser: every input bit reaches every output bit.
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  return h ^ (h >> 16);
}

// 32 random bits for element i of a run keyed (k0, k1): two rounds of the
// finaliser, the key's halves entering before each, in 32-bit integer steps
// that vectorise (a 64-bit hash per element would not, on AVX2).
inline uint32_t element_bits(uint32_t k0, uint32_t k1, uint64_t i) {
  const uint32_t low = static_cast<uint32_t>(i), high = static_cast<uint32_t>(i >> 32);
  return fmix32(fmix32((low * 0x9E3779B1u) ^ k0) + high * 0x85EBCA77u + k1);
}

// Elements [lo, hi): the mask and the scaled or zeroed output. Its own
// function with everything in arguments: the byte stores of the mask may
// alias anything, and values read through a lambda's captures would then be
// read again for every element instead of the loop vectorising.
void keep_elements(const float* x, float* y, uint8_t* mask, int64_t lo, int64_t hi, uint32_t k0,
                   uint32_t k1, uint32_t threshold, float scale) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const uint32_t keep = element_bits(k0, k1, static_cast<uint64_t>(i)) >= threshold;
    const float v = x[i] * scale;
    mask[i] = static_cast<uint8_t>(keep);
    y[i] = keep ? v : 0.f;
  }
}

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
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [=](int64_t lo, int64_t hi) {
      keep_elements(x, y, mask, lo, hi, k0, k1, threshold, scale);
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
    parallel_blocks(threads_for(n, ctx.threads), n, 16384, [=](int64_t lo, int64_t hi) {
      const float* g = dy;
      float* to = dx;
      const uint8_t* kept = mask;
      const float s = scale;
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) {
        const float v = g[i] * s;
        to[i] = kept[i] ? v : 0.f;
      }
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

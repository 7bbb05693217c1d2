// Random numbers for layers that act only in training (Dropout, the random
// augmentations): a hash of (seed, training step, call, counter), so the
// draws do not depend on the thread count, and a model saved with its seed
// and step draws the same ones again (an interrupted fit resumes exactly).
#pragma once
#include <cstdint>

#include "core/rng.h"
#include "graph/attrs.h"
#include "graph/layer.h"

namespace pyconv {

// The layer's seed: its "seed" attribute, or one drawn when the layer is
// built and stored as that attribute, so that a saved model keeps it.
class LayerSeed {
 public:
  explicit LayerSeed(const Attrs& a)
      : given_(a.has("seed")), seed_(static_cast<uint64_t>(a.get_int("seed", 0))) {}

  void draw(Attrs& attrs, Rng* rng) {
    if (given_ || !rng) return;
    seed_ = rng->next();
    attrs.set("seed", static_cast<int64_t>(seed_));
  }

  // The key of this run's draws: per step, and per call of a layer called
  // more than once (each call draws its own, as in Keras).
  uint64_t run_key(const RunContext& ctx) const {
    const uint64_t key = splitmix64(seed_ ^ splitmix64(ctx.step));
    return ctx.call == 0 ? key : splitmix64(key ^ static_cast<uint64_t>(ctx.call));
  }

 private:
  bool given_;
  uint64_t seed_;
};

// The i-th 64 random bits of a run's key.
inline uint64_t random_bits(uint64_t key, uint64_t i) {
  return splitmix64(key + i * 0x9E3779B97F4A7C15ull);
}

// The i-th uniform number in [0, 1) of a run's key (24 random bits).
inline float random_uniform(uint64_t key, uint64_t i) {
  return static_cast<float>(random_bits(key, i) >> 40) * 0x1p-24f;
}

}  // namespace pyconv

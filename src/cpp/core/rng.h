// Deterministic random numbers. Rng is a sequential generator (weight init,
// shuffling); splitmix64 of a counter is counter-based, so dropout masks do
// not depend on how work is split between threads.
#pragma once
#include <cstdint>

namespace pyconv {

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// xoshiro256** seeded through splitmix64.
class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next();
  float uniform();                 // [0, 1)
  float uniform(float lo, float hi);
  float normal();                  // standard normal (Box-Muller)

 private:
  uint64_t s_[4];
};

// Global seed set by pyconv.set_seed(); used when a graph is built.
uint64_t global_seed();
void set_global_seed(uint64_t seed);

}  // namespace pyconv

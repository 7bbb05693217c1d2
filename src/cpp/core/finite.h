// Finding NaN and infinity in float data: inputs, targets, gradients, weights
// set by users and weights read from files are all checked with this.
#pragma once
#include <cstdint>
#include <string>

namespace pyconv {

// Index of the first NaN or infinity in p[0, n), or -1. It tests the exponent
// bits (all ones for inf and NaN only) rather than calling isfinite, which
// -ffast-math may fold to true; the common all-finite case is one counting
// pass that vectorises and is shared among up to `threads` threads.
int64_t first_non_finite(const float* p, int64_t n, int threads = 1);

// Throws ValueError naming the first NaN or infinity of a model input
// ("expected finite input values, found nan at flat index 5" + suffix).
void require_finite_input(const float* p, int64_t n, int threads, const std::string& suffix = "");

}  // namespace pyconv

// Checked int64 arithmetic for shapes and sizes. A configuration with huge
// arguments (filters=2**62, padding=2**63-1) must raise, not wrap around into
// a small or negative size that a kernel then writes past.
#pragma once
#include <cstdint>
#include <string_view>

#include "core/error.h"

namespace pyconv {

// a + b; throws ValueError naming `what` when the sum does not fit in int64.
inline int64_t checked_add(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r))
    throw ValueError(cat(what, ": ", a, " + ", b, " does not fit in a 64-bit integer"));
  return r;
}

// a * b; throws ValueError naming `what` when the product does not fit.
inline int64_t checked_mul(int64_t a, int64_t b, std::string_view what) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r))
    throw ValueError(cat(what, ": ", a, " * ", b, " does not fit in a 64-bit integer"));
  return r;
}

}  // namespace pyconv

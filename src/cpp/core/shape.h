// Shape: a small vector of dimensions, printable as "(32, 28, 28, 1)".
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/error.h"

namespace pyconv {

using Shape = std::vector<int64_t>;

std::string shape_str(const Shape& s);

// The element count. Throws ValueError (its message starting with `who`, when
// given) if the count does not fit in int64: it would wrap to a small or
// negative count.
inline int64_t shape_numel(const Shape& s, std::string_view who = {}) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d == 0) return 0;  // (0, 2**40, 2**40) is empty, not too large
    if (__builtin_mul_overflow(n, d, &n))
      throw ValueError(cat(who, who.empty() ? "" : ": ", "the shape ", shape_str(s),
                           " has more elements than fit in a 64-bit integer"));
  }
  return n;
}

// Shape with a leading batch dimension prepended.
inline Shape with_batch(int64_t n, const Shape& s) {
  Shape out{n};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

// Several shapes: "(28, 28, 1), (10,)".
std::string shapes_str(const std::vector<Shape>& shapes);

// A per-sample shape printed with its batch axis: (N, 28, 28, 1).
std::string batch_shape_str(const Shape& sample);

}  // namespace pyconv

// Shape: a small vector of dimensions, printable as "(32, 28, 28, 1)".
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace pyconv {

using Shape = std::vector<int64_t>;

inline int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

// Shape with a leading batch dimension prepended.
inline Shape with_batch(int64_t n, const Shape& s) {
  Shape out{n};
  out.insert(out.end(), s.begin(), s.end());
  return out;
}

std::string shape_str(const Shape& s);
// A per-sample shape printed with its batch axis: (N, 28, 28, 1).
std::string batch_shape_str(const Shape& sample);

}  // namespace pyconv

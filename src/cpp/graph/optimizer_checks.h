// What the optimizers' files share: argument checks, and the finiteness test
// of an update's dry run.
#pragma once
#include <cmath>
#include <limits>

#include "core/error.h"
#include "core/threads.h"
#include "graph/attrs.h"

namespace pyconv::optimizer_checks {

// 1 for NaN and inf: what a dry run of an update looks for.
inline int non_finite(float v) { return !(std::fabs(v) <= std::numeric_limits<float>::max()); }

// An update of a parameter's n values in slices: range(lo, hi) updates
// [lo, hi) and returns whether all it wrote is finite. Big parameters (over
// 64K values) are split among threads. True when every slice was finite.
template <class Range>
bool update_in_slices(int64_t n, int threads, Range range) {
  return !parallel_any(n > 65536 ? threads : 1, n,
                       [&](int64_t lo, int64_t hi) { return !range(lo, hi); });
}

inline double non_negative(const Attrs& a, const char* key, double fallback) {
  const double v = a.get_float(key, fallback);
  if (!(v >= 0.0) || !std::isfinite(v))
    throw ValueError(cat(a.who(), ": ", key, " must be a non-negative number, received ", v));
  return v;
}

// epsilon keeps a division away from zero: it must be positive.
inline double positive(const Attrs& a, const char* key, double fallback) {
  const double v = a.get_float(key, fallback);
  if (!(v > 0.0) || !std::isfinite(v))
    throw ValueError(cat(a.who(), ": ", key, " must be a positive number, received ", v));
  return v;
}

// A decay rate (beta, rho): in [0, 1).
inline double decay_rate(const Attrs& a, const char* key, double fallback) {
  const double v = non_negative(a, key, fallback);
  if (v >= 1.0) throw ValueError(cat(a.who(), ": ", key, " must be in [0, 1), received ", v));
  return v;
}

}  // namespace pyconv::optimizer_checks

#include "core/finite.h"

#include <cstring>

#include "core/threads.h"

namespace pyconv {

int64_t first_non_finite(const float* p, int64_t n, int threads) {
  auto non_finite = [p](int64_t i) {
    constexpr uint32_t kExponent = 0x7f800000u;
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    return (bits & kExponent) == kExponent;
  };
  // Counting (integer compares and adds) vectorises where a search with an
  // early exit would not; only a batch that has a bad value is searched.
  int64_t count = 0;
  const int team = threads_for(n / 4, threads);
  if (team > 1) {  // no parallel region for one thread (see parallel_for)
#pragma omp parallel for reduction(+ : count) num_threads(team)
    for (int64_t i = 0; i < n; ++i) count += non_finite(i);
  } else {
    for (int64_t i = 0; i < n; ++i) count += non_finite(i);
  }
  if (count == 0) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (non_finite(i)) return i;
  return -1;
}

}  // namespace pyconv

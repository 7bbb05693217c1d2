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
  // One pass that vectorises (32-bit compares OR-ed together; a search with
  // an early exit would not); only a batch that has a bad value is searched.
  auto any_in = [p](int64_t begin, int64_t end) {
    uint32_t any = 0;
    for (int64_t i = begin; i < end; ++i) {
      uint32_t bits;
      std::memcpy(&bits, p + i, sizeof bits);
      // |x| as int32 is above the largest finite float's bits for inf and NaN only.
      any |= static_cast<int32_t>(bits & 0x7fffffffu) > 0x7f7fffff;
    }
    return any;
  };
  const int team = threads_for(n / 4, threads);
  uint32_t found = 0;
  if (team > 1) {  // no parallel region for one thread (see parallel_for)
#pragma omp parallel for reduction(| : found) num_threads(team)
    for (int t = 0; t < team; ++t) found |= any_in(n * t / team, n * (t + 1) / team);
  } else {
    found = any_in(0, n);
  }
  if (found == 0) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (non_finite(i)) return i;
  return -1;
}

}  // namespace pyconv

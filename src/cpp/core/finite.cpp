#include "core/finite.h"

#include <cstring>

#include "core/threads.h"
#include "kernels/dispatch.h"

namespace pyconv {

int64_t first_non_finite(const float* p, int64_t n, int threads) {
  auto non_finite = [p](int64_t i) {
    constexpr uint32_t kExponent = 0x7f800000u;
    uint32_t bits;
    std::memcpy(&bits, p + i, sizeof bits);
    return (bits & kExponent) == kExponent;
  };
  // One pass at memory speed (the ISA's scan); only a batch that has a bad
  // value is searched.
  auto any_in = [p](int64_t begin, int64_t end) {
    return static_cast<uint32_t>(kernels::active().any_non_finite(p + begin, end - begin));
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

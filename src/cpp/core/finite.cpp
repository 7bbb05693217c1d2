#include "core/finite.h"

#include "core/error.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "kernels/finite.h"

namespace pyconv {

int64_t first_non_finite(const float* p, int64_t n, int threads) {
  // One pass at memory speed (the ISA's scan); only a batch that has a bad
  // value is searched.
  const bool found = parallel_any(threads_for(n / 4, threads), n, [p](int64_t lo, int64_t hi) {
    return kernels::active().any_non_finite(p + lo, hi - lo) != 0;
  });
  if (!found) return -1;
  for (int64_t i = 0; i < n; ++i)
    if (kernels::non_finite_bit(p[i])) return i;
  return -1;
}

void require_finite_input(const float* p, int64_t n, int threads, const std::string& suffix) {
  if (const int64_t i = first_non_finite(p, n, threads); i >= 0)
    throw ValueError(cat("expected finite input values, found ", p[i], " at flat index ", i,
                         suffix));
}

}  // namespace pyconv

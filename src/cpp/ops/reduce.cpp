#include "ops/reduce.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include "core/threads.h"

namespace pyconv::ops {

void column_sums(const float* m, int64_t rows, int64_t cols, float* out, int threads) {
  const int nt = threads_for(rows * cols, threads);
  // Each slice of the rows is summed into its own partial.
  std::vector<float> partials(static_cast<size_t>(nt * cols), 0.f);
  parallel_slices(nt, rows, [&](int64_t t, int64_t r0, int64_t r1) {
    float* acc = partials.data() + t * cols;
    // Few columns: sum `span` (a multiple of 8) floats at a time, so the
    // inner loop vectorises whatever the width, then fold the span.
    const int64_t span = cols % 8 == 0 ? cols : cols * (8 / std::gcd<int64_t>(cols, 8));
    const int64_t n = (r1 - r0) * cols, full = n / span * span;
    const float* src = m + r0 * cols;
    std::vector<float> wide(static_cast<size_t>(span), 0.f);
    for (int64_t i = 0; i < full; i += span)
      for (int64_t j = 0; j < span; ++j) wide[j] += src[i + j];
    for (int64_t j = 0; j < span; ++j) acc[j % cols] += wide[j];
    for (int64_t i = full; i < n; ++i) acc[i % cols] += src[i];
  });
  std::copy(partials.begin(), partials.begin() + cols, out);
  for (int t = 1; t < nt; ++t)
    for (int64_t c = 0; c < cols; ++c) out[c] += partials[t * cols + c];
}

}  // namespace pyconv::ops

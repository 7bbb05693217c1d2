#include "ops/reduce.h"

#include <algorithm>
#include <vector>

#include "core/threads.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyconv::ops {

void column_sums(const float* m, int64_t rows, int64_t cols, float* out, int threads) {
  const int nt = threads_for(rows * cols, threads);
  // Each thread sums a slice of the rows into its own partial.
  std::vector<float> partials(static_cast<size_t>(nt * cols), 0.f);
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
#ifdef _OPENMP
    const int t = omp_get_thread_num();
#else
    const int t = 0;
#endif
    float* acc = partials.data() + t * cols;
    for (int64_t r = rows * t / nt; r < rows * (t + 1) / nt; ++r) {
      const float* row = m + r * cols;
      for (int64_t c = 0; c < cols; ++c) acc[c] += row[c];
    }
  }
  std::copy(partials.begin(), partials.begin() + cols, out);
  for (int t = 1; t < nt; ++t)
    for (int64_t c = 0; c < cols; ++c) out[c] += partials[t * cols + c];
}

}  // namespace pyconv::ops

// How to share threads between a loop over samples (outer) and the work inside
// one sample (inner): a large batch uses all threads on samples; a batch of one
// gives them all to the inner GEMM.
#pragma once
#include <algorithm>
#include <cstdint>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyconv::ops {

struct BatchSplit {
  int outer = 1, inner = 1;
  // The calling thread's index in the outer loop: its workspace slot.
  int slot() const {
#ifdef _OPENMP
    return outer > 1 ? omp_get_thread_num() : 0;
#else
    return 0;
#endif
  }
};

inline BatchSplit split_batch(int64_t batch, int threads) {
  BatchSplit s;
  s.outer = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(batch, threads)));
  s.inner = std::max(1, threads / s.outer);
  return s;
}

}  // namespace pyconv::ops

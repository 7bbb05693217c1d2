// Thread count used by every parallel kernel. Kernels receive it explicitly;
// this is only where the user's choice is kept.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>

#include "core/denormals.h"

namespace pyconv {

// Threads worth using for `work` units (about one multiply-add each): small
// work stays on one thread. Starting a parallel region costs about 1 us while
// the workers still spin from the last one (as within a training step) and
// up to ~100 us once they sleep, so the cut-off is ~10 us of work per thread.
inline int threads_for(int64_t work, int threads) {
  constexpr int64_t kMinWorkPerThread = int64_t{1} << 15;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, work / kMinWorkPerThread)));
}

// Calls f(i) for i in [0, n): split among `threads` OpenMP threads (static
// or dynamic schedule), or inline on one. Entering a parallel region costs
// about 0.3 us even under if(false), which is a fifth of a small layer in a
// batch-1 inference, so one thread never enters one.
template <class F>
void parallel_for(int threads, int64_t n, F&& f, bool dynamic = false) {
  if (threads > 1 && n > 1) {
    if (dynamic) {
      // Claimed from a shared counter: cheaper to enter than an OpenMP
      // dynamic loop (~0.1 us of a batch-1 layer's ~1 us region).
      std::atomic<int64_t> next{0};
#pragma omp parallel num_threads(static_cast<int>(std::min<int64_t>(threads, n)))
      {
        const FlushDenormals flush;
        for (int64_t i = next.fetch_add(1, std::memory_order_relaxed); i < n;
             i = next.fetch_add(1, std::memory_order_relaxed))
          f(i);
      }
    } else {
#pragma omp parallel num_threads(threads)
      {
        const FlushDenormals flush;
#pragma omp for schedule(static)
        for (int64_t i = 0; i < n; ++i) f(i);
      }
    }
    return;
  }
  for (int64_t i = 0; i < n; ++i) f(i);
}

// parallel_for for a body that may throw (out of memory): an exception must
// not leave an OpenMP region, so the first is kept, the other items are
// skipped, and it is thrown again once the threads are done.
template <class F>
void parallel_for_throwing(int threads, int64_t n, F&& f, bool dynamic = false) {
  std::exception_ptr error;
  std::atomic<bool> failed{false};
  parallel_for(threads, n, [&](int64_t i) {
    if (failed.load(std::memory_order_relaxed)) return;
    try {
      f(i);
    } catch (...) {
      if (!failed.exchange(true)) error = std::current_exception();
    }
  }, dynamic);
  if (error) std::rethrow_exception(error);
}

// Calls body(lo, hi) for the consecutive blocks of `block` items that cover
// [0, n), the blocks split among `threads` threads as parallel_for does.
template <class F>
void parallel_blocks(int threads, int64_t n, int64_t block, F&& body) {
  const int64_t blocks = (n + block - 1) / block;
  parallel_for(threads, blocks, [&](int64_t b) { body(b * block, std::min(n, (b + 1) * block)); });
}

int num_threads();
// n == 0 restores the default (all cores); a negative n throws ValueError; n
// above max_threads() is capped there (thousands of OS threads only thrash).
void set_num_threads(int64_t n);
// 4x the cores this process may run on.
int max_threads();
bool have_openmp();
// True in a process forked from one that had loaded pyconv: it then runs on
// one thread (see threads.cpp).
bool in_forked_child();

}  // namespace pyconv

// Thread count used by every parallel kernel. Kernels receive it explicitly;
// this is only where the user's choice is kept.
#pragma once
#include <algorithm>
#include <cstdint>

namespace pyconv {

// Threads worth using for `work` units (about one multiply-add each): small
// work stays on one thread. Starting a parallel region costs about 1 us while
// the workers still spin from the last one (as within a training step) and
// up to ~100 us once they sleep, so the cut-off is ~10 us of work per thread.
inline int threads_for(int64_t work, int threads) {
  constexpr int64_t kMinWorkPerThread = int64_t{1} << 15;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, work / kMinWorkPerThread)));
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

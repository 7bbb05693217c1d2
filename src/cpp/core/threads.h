// Thread count used by every parallel kernel. Kernels receive it explicitly;
// this is only where the user's choice is kept.
#pragma once
#include <algorithm>
#include <cstdint>

namespace pyconv {

// Threads worth using for `work` units (about one multiply-add each): starting
// a parallel region costs microseconds, so small work stays on one thread.
inline int threads_for(int64_t work, int threads) {
  constexpr int64_t kMinWorkPerThread = int64_t{1} << 18;
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, work / kMinWorkPerThread)));
}

int num_threads();
void set_num_threads(int n);  // n <= 0 restores the default (all cores)
bool have_openmp();

}  // namespace pyconv

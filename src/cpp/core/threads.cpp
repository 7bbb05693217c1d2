#include "core/threads.h"

#include <algorithm>
#include <atomic>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"

namespace pyconv {

namespace {
int default_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}

// Cores this process may run on (omp_get_num_procs honours the affinity mask).
int available_cores() {
#ifdef _OPENMP
  return std::max(1, omp_get_num_procs());
#else
  return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#endif
}

std::atomic<int> g_threads{0};
}  // namespace

int num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : default_threads();
}

int max_threads() { return 4 * available_cores(); }

void set_num_threads(int64_t n) {
  if (n < 0)
    throw ValueError(cat("set_num_threads: n must be 0 (the default) or positive, received ", n));
  g_threads.store(static_cast<int>(std::min<int64_t>(n, max_threads())));
}

bool have_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace pyconv

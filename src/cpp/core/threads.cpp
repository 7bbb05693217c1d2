#include "core/threads.h"

#include <atomic>
#include <thread>

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyconv {

namespace {
int default_threads() {
#ifdef _OPENMP
  return omp_get_num_procs();
#else
  return 1;
#endif
}
std::atomic<int> g_threads{0};
}  // namespace

int num_threads() {
  int n = g_threads.load();
  return n > 0 ? n : default_threads();
}

void set_num_threads(int n) { g_threads.store(n > 0 ? n : 0); }

bool have_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace pyconv

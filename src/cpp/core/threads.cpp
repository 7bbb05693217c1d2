#include "core/threads.h"

#include <atomic>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

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

// A child forked after the parent ran parallel regions inherits a thread pool
// whose threads do not exist there: GNU OpenMP waits for them forever. So a
// forked child computes on its calling thread alone (as PyTorch does).
std::atomic<bool> g_forked_child{false};
#if defined(__unix__) || defined(__APPLE__)
const bool g_fork_handler = [] {
  pthread_atfork(nullptr, nullptr, [] { g_forked_child.store(true); });
  return true;
}();
#endif
}  // namespace

int num_threads() {
  if (g_forked_child.load()) return 1;
  int n = g_threads.load();
  return n > 0 ? n : default_threads();
}

bool in_forked_child() { return g_forked_child.load(); }

void set_num_threads(int n) { g_threads.store(n > 0 ? n : 0); }

bool have_openmp() {
#ifdef _OPENMP
  return true;
#else
  return false;
#endif
}

}  // namespace pyconv

#include "core/threads.h"

#include <algorithm>
#include <atomic>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#ifdef _OPENMP
#include <omp.h>
#endif

#include "core/error.h"

namespace pyconv {

namespace {
// Cores this process may run on (omp_get_num_procs honours the affinity mask).
// Read once: it is a system call, and num_threads() runs on every inference.
int available_cores() {
  static const int cores = [] {
#ifdef _OPENMP
    return std::max(1, omp_get_num_procs());
#else
    return static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#endif
  }();
  return cores;
}

// All cores; one in a build without OpenMP.
int default_threads() {
#ifdef _OPENMP
  return available_cores();
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

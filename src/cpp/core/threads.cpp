#include "core/threads.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "core/cpu_count.h"
#include "core/error.h"
#include "core/fork_generation.h"
#include "core/training.h"

namespace pyconv {

namespace {

std::atomic<int> g_threads{0};

// A forked child (core/fork_generation.h) computes on its calling thread
// alone by default (as PyTorch does): the parent's pool threads do not exist
// there (the child gets a fresh pool, see thread_pool.cpp), and several
// forked workers each taking every core would only fight over them.
#if defined(__unix__) || defined(__APPLE__)
const bool g_fork_handler = [] {
  // The parent's choice was for the parent; set_num_threads in the child counts.
  pthread_atfork(nullptr, nullptr, [] { g_threads.store(0); });
  return true;
}();
#endif

}  // namespace

// PYCONV_NUM_THREADS, else OMP_NUM_THREADS (which Dask's and Ray's workers
// and batch schedulers set for the libraries they host), else the cores this
// process may use (affinity mask, cgroup quota). Read once: it reads the
// environment and files, and num_threads() runs on every inference.
const DefaultThreads& default_threads() {
  static const DefaultThreads info = [] {
    std::string ignored;  // values not understood, named where the count comes from instead
    for (const char* var : {"PYCONV_NUM_THREADS", "OMP_NUM_THREADS"}) {
      const char* text = std::getenv(var);
      if (!text || !*text) continue;
      char* end = nullptr;
      const long n = std::strtol(text, &end, 10);
      while (*end == ' ' || *end == '\t') ++end;
      // OpenMP's list for nested levels ("4,2"): the first is the outer level's.
      const bool list = *end == ',' && var[0] == 'O';  // (OMP_NUM_THREADS)
      if ((*end == '\0' || list) && n > 0 && end != text)
        return DefaultThreads{static_cast<int>(std::min<long>(n, max_threads())),
                              std::string(var) + "=" + text};
      ignored += cat("; ", var, "='", text, "' ignored: not a positive integer");
    }
    return DefaultThreads{usable_cores().cores, usable_cores().source + ignored};
  }();
  return info;
}

int num_threads() {
  const int n = g_threads.load();
  if (n > 0) return n;
  return in_forked_child() ? 1 : default_threads().threads;
}

bool in_forked_child() { return fork_generation() != 0; }

int max_threads() { return 4 * usable_cores().cores; }

void set_num_threads(int64_t n) {
  if (n < 0)
    throw ValueError(cat("set_num_threads: n must be 0 (the default) or positive, received ", n));
  g_threads.store(static_cast<int>(std::min<int64_t>(n, max_threads())));
}

void copy_through(float* dst, const float* src, int64_t n, int threads) {
  if constexpr (kTrainingBuilt)
    parallel_copy(dst, src, n, threads);
  else if (dst != src)
    std::memcpy(dst, src, sizeof(float) * static_cast<size_t>(n));
}

void parallel_copy(float* dst, const float* src, int64_t n, int threads) {
  if (dst == src) return;
  parallel_blocks(threads_for(n, threads), n, int64_t{1} << 16, [&](int64_t lo, int64_t hi) {
    std::memcpy(dst + lo, src + lo, sizeof(float) * static_cast<size_t>(hi - lo));
  });
}

}  // namespace pyconv

#include "core/threads.h"

#include <algorithm>
#include <atomic>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "core/cpu_count.h"
#include "core/error.h"

namespace pyconv {

namespace {
// Cores this process may use (affinity mask and cgroup quota; read once: it
// reads files, and num_threads() runs on every inference).
int available_cores() { return usable_cores().cores; }

int default_threads() { return available_cores(); }

std::atomic<int> g_threads{0};

// A forked child computes on its calling thread alone by default (as PyTorch
// does): the parent's pool threads do not exist there (the child gets a
// fresh pool, see thread_pool.cpp), and several forked workers each taking
// every core would only fight over them.
std::atomic<bool> g_forked_child{false};
#if defined(__unix__) || defined(__APPLE__)
const bool g_fork_handler = [] {
  pthread_atfork(nullptr, nullptr, [] {
    g_forked_child.store(true);
    g_threads.store(0);  // the parent's choice was for the parent; set_num_threads here counts
  });
  return true;
}();
#endif
}  // namespace

int num_threads() {
  const int n = g_threads.load();
  if (n > 0) return n;
  return g_forked_child.load() ? 1 : default_threads();
}

bool in_forked_child() { return g_forked_child.load(); }

int max_threads() { return 4 * available_cores(); }

void set_num_threads(int64_t n) {
  if (n < 0)
    throw ValueError(cat("set_num_threads: n must be 0 (the default) or positive, received ", n));
  g_threads.store(static_cast<int>(std::min<int64_t>(n, max_threads())));
}

}  // namespace pyconv

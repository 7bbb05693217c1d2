// Thread count used by every parallel kernel. Kernels receive it explicitly;
// this is only where the user's choice is kept.
#pragma once
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <type_traits>

#include "core/thread_pool.h"

namespace pyconv {

// Threads worth using for `work` units (about one multiply-add each): small
// work stays on one thread. Starting a parallel job costs well under a
// microsecond while the pool's helpers poll, and tens of microseconds once
// they sleep (which the caller does not wait for: it starts alone); a helper
// then pulls the job's inputs and weights from the other core's cache, and
// the caller waits for the slower half. With a cut-off of 32k units for
// every op, batch-1 LeNet-5 (layers of 50-240k multiply-adds) took 13.4 us on
// two threads against 11.1 us on one; at 128k units the two are equal. Work
// whose parts share no set-up may pass a lower cut-off (min_work).
constexpr int64_t kMinWorkPerThread = int64_t{1} << 17;
inline int threads_for(int64_t work, int threads, int64_t min_work = kMinWorkPerThread) {
  return static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, work / min_work)));
}

// Calls body(slice, lo, hi) for `slices` consecutive slices [lo, hi) that
// cover [0, n), one task each: the slice number names a partial result that
// is the same whichever thread ran it (results stay deterministic).
template <class F>
void parallel_slices(int slices, int64_t n, F&& body) {
  auto task = [&](int64_t s) { body(s, n * s / slices, n * (s + 1) / slices); };
  using Task = decltype(task);
  if (slices <= 1) return body(int64_t{0}, int64_t{0}, n);
  pool_run(slices, slices, [](void* t, int64_t s) { (*static_cast<Task*>(t))(s); }, &task);
}

// Calls f(i) for i in [0, n): on the calling thread and up to threads - 1
// pool threads (core/thread_pool.h), or inline on one. Static: one
// contiguous block of indices per thread; dynamic: indices claimed one at a
// time, so a core slowed by other work takes fewer. Either way a block no
// helper has claimed is run by the caller, so f must not depend on which
// thread runs it (per-thread partial sums go by block, see parallel_slices).
// An exception from f is rethrown here once the calls under way are done;
// the calls not yet started are skipped.
template <class F>
void parallel_for(int threads, int64_t n, F&& f, bool dynamic = false) {
  if (threads <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  using Fn = std::remove_reference_t<F>;
  if (dynamic || n <= threads) {
    pool_run(threads, n, [](void* fn, int64_t i) { (*static_cast<Fn*>(fn))(i); },
             const_cast<void*>(static_cast<const void*>(&f)));
    return;
  }
  parallel_slices(threads, n, [&](int64_t, int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) f(i);
  });
}

// Whether body(lo, hi) is true for any of `threads` consecutive slices of [0, n).
template <class F>
bool parallel_any(int threads, int64_t n, F&& body) {
  std::atomic<bool> any{false};
  parallel_slices(std::max(1, threads), n, [&](int64_t, int64_t lo, int64_t hi) {
    if (body(lo, hi)) any.store(true, std::memory_order_relaxed);
  });
  return any.load();
}

// Calls body(lo, hi) for the consecutive blocks of `block` items that cover
// [0, n), the blocks split among `threads` threads as parallel_for does.
template <class F>
void parallel_blocks(int threads, int64_t n, int64_t block, F&& body) {
  const int64_t blocks = (n + block - 1) / block;
  parallel_for(threads, blocks, [&](int64_t b) { body(b * block, std::min(n, (b + 1) * block)); });
}

// dst[i] = src[i] for i in [0, n), in blocks of 64k floats over up to
// `threads` threads: one core streams a large copy at about 60% of what two
// reach (numpy.copyto against torch's clone of 25 MB here). dst == src
// (a gradient written in place) copies nothing.
void parallel_copy(float* dst, const float* src, int64_t n, int threads);

// A layer's forward that passes its input through (Flatten, Reshape, Dropout
// and the augmentations at inference): parallel_copy where training is
// built; a plain memcpy in the runtime-only builds, whose batch-1 tensors
// are small and whose every byte of size counts. dst == src copies nothing.
void copy_through(float* dst, const float* src, int64_t n, int threads);

int num_threads();
// n == 0 restores the default; a negative n throws ValueError; n above
// max_threads() is capped there (thousands of OS threads only thrash).
void set_num_threads(int64_t n);
// 4x the cores this process may run on.
int max_threads();
// The default thread count, and where it came from (an environment
// variable, the CPU affinity mask, a cgroup CPU quota).
struct DefaultThreads {
  int threads;
  std::string source;
};
const DefaultThreads& default_threads();
// True in a process forked from one that had loaded pyconv: its default is
// then one thread (set_num_threads there counts; see threads.cpp).
bool in_forked_child();

}  // namespace pyconv

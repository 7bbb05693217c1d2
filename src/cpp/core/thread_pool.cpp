#include "core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <system_error>
#include <thread>

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>
#endif

#include "core/denormals.h"

namespace pyconv {

namespace {

// How long an idle helper polls for the next job before it sleeps: back-to-
// back jobs (the layers of one inference) hand over in well under a
// microsecond, while a pool left alone stops taking CPU time from the rest
// of the machine within 0.1 ms.
constexpr auto kPollTime = std::chrono::microseconds(100);
// A polling helper offers its core to other threads this often (in spins,
// about 2 us): alone on the machine that costs a system call, and where other
// processes want the cores, they get them instead of a helper that has
// nothing to do (two pyconv trainers on two cores: 0.96 -> 1.05x the
// throughput of one alone).
constexpr int kSpinsBetweenYields = 64;
// How long a caller spins on a helper's last task before it yields its core.
constexpr int kSpinsBeforeYield = 2048;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__) || defined(__arm__)
  asm volatile("yield");
#endif
}

// True on pool threads, and on a caller while it runs its job: a nested
// parallel_for runs inline (and never relocks the pool it holds).
thread_local bool t_in_task = false;

// A job's tasks are claimed from one 64-bit word: the job's number (24
// bits), the next task (20 bits) and the task count (20 bits). A claim is a
// compare-and-swap of the whole word, so a helper that looked at an earlier
// job (and was then descheduled for a while) can never take a task of a
// later one, and the caller never waits for such a helper to leave.
constexpr int kTaskBits = 20;
constexpr uint64_t kTaskMask = (uint64_t{1} << kTaskBits) - 1;
constexpr int64_t kMaxTasks = static_cast<int64_t>(kTaskMask);
constexpr uint32_t kJobMask = (uint32_t{1} << 24) - 1;

inline uint64_t claim_word(uint32_t job, uint64_t next, uint64_t count) {
  return (uint64_t{job} << (2 * kTaskBits)) | (next << kTaskBits) | count;
}
inline uint32_t job_of(uint64_t w) { return static_cast<uint32_t>(w >> (2 * kTaskBits)); }
inline int64_t next_of(uint64_t w) { return static_cast<int64_t>((w >> kTaskBits) & kTaskMask); }
inline int64_t count_of(uint64_t w) { return static_cast<int64_t>(w & kTaskMask); }

class Pool {
 public:
  std::mutex& owner() { return owner_; }

  // Whether jobs should run on their caller alone for now: a helper was
  // descheduled while holding a task not long ago (see note_wait).
  bool serial_for_now() const {
    const int64_t until = serial_until_.load(std::memory_order_relaxed);
    return until != 0 && Clock::now().time_since_epoch().count() < until;
  }
  int size() const { return started_.load(std::memory_order_relaxed); }

  // Runs tasks [0, n) (n <= kMaxTasks) with up to `helpers` pool threads;
  // the caller holds owner().
  void run(int helpers, int64_t n, void (*body)(void*, int64_t), void* ctx) {
    grow(helpers);
    const uint32_t job = (job_.load(std::memory_order_relaxed) + 1) & kJobMask;
    body_.store(body, std::memory_order_relaxed);
    ctx_.store(ctx, std::memory_order_relaxed);
    done_.store(0, std::memory_order_relaxed);
    failed_.store(false, std::memory_order_relaxed);
    seats_.store((uint64_t{job} << 32) | static_cast<uint32_t>(helpers), std::memory_order_relaxed);
    claim_.store(claim_word(job, 0, static_cast<uint64_t>(n)), std::memory_order_release);
    job_.store(job);  // seq_cst: ordered before the read of sleeping_ below
    if (sleeping_.load() > 0) {
      { std::lock_guard<std::mutex> lock(sleep_m_); }  // a sleeper is now inside wait()
      wake_.notify_all();
    }
    const auto start = Clock::now();
    work(job);
    // Every task is claimed; wait for those still running on helpers.
    const auto worked = Clock::now();
    bool yielded = false;
    for (int spins = 0; done_.load(std::memory_order_acquire) != n; ++spins) {
      if (spins < kSpinsBeforeYield) {
        cpu_relax();
      } else {
        std::this_thread::yield();
        yielded = true;
      }
    }
    if (yielded) note_wait(worked - start, Clock::now() - worked);
    if (failed_.load(std::memory_order_relaxed)) {
      std::exception_ptr e = error_;
      error_ = nullptr;
      std::rethrow_exception(e);
    }
  }

 private:
  using Clock = std::chrono::steady_clock;

  // After a job whose caller waited for a helper's task much longer than it
  // worked itself (a helper lost its core mid-task: other processes want
  // the cores), jobs run on their callers alone for a while: 10 ms, doubling
  // up to 160 ms for each stall that comes within a second of the one
  // before (the machine stays busy; jobs that went well in between do not
  // reset it, as one stall costs more than many jobs gain), back to 10 ms
  // after a second without one. On a busy machine that keeps a step from
  // waiting out time slices, so it is never much slower than on one thread.
  void note_wait(Clock::duration worked, Clock::duration waited) {
    if (waited < kStall || waited < 2 * worked) return;
    const auto now = Clock::now();
    stalls_ = now - last_stall_ < std::chrono::seconds(1) ? std::min(stalls_ + 1, 4) : 0;
    last_stall_ = now;
    const auto pause = std::chrono::milliseconds(10) * (1 << stalls_);
    serial_until_.store((now + pause).time_since_epoch().count(), std::memory_order_relaxed);
  }

  // Claims and runs tasks of `job` until none is left (or a later job began).
  void work(uint32_t job) {
    uint64_t w = claim_.load(std::memory_order_acquire);
    while (job_of(w) == job && next_of(w) < count_of(w)) {
      if (!claim_.compare_exchange_weak(w, w + (uint64_t{1} << kTaskBits),
                                        std::memory_order_acq_rel, std::memory_order_acquire))
        continue;  // w now holds the current word
      // A task of this job is ours, so the job is not done and its fields
      // are still the ones published with it.
      if (!failed_.load(std::memory_order_relaxed)) {
        try {
          body_.load(std::memory_order_relaxed)(ctx_.load(std::memory_order_relaxed), next_of(w));
        } catch (...) {
          std::lock_guard<std::mutex> lock(error_m_);
          if (!failed_.load(std::memory_order_relaxed)) error_ = std::current_exception();
          failed_.store(true, std::memory_order_relaxed);
        }
      }
      done_.fetch_add(1, std::memory_order_release);
      w = claim_.load(std::memory_order_acquire);
    }
  }

  // A seat in `job`, if it still takes helpers.
  bool take_seat(uint32_t job) {
    uint64_t s = seats_.load(std::memory_order_acquire);
    while (static_cast<uint32_t>(s >> 32) == job && static_cast<uint32_t>(s) > 0)
      if (seats_.compare_exchange_weak(s, s - 1, std::memory_order_acq_rel)) return true;
    return false;
  }

  void grow(int helpers) {
    for (int i = started_.load(std::memory_order_relaxed); i < helpers; ++i) {
      try {
        std::thread([this] { helper_loop(); }).detach();
      } catch (const std::system_error&) {
        return;  // fewer helpers: the callers do their share
      }
      started_.store(i + 1, std::memory_order_relaxed);
    }
  }

  void helper_loop() {
    t_in_task = true;
    const FlushDenormals flush;  // for the thread's life: it only runs pyconv's tasks
    // A thread that starts late (the OS may take a while) still joins the
    // job that started it, if that is still open.
    uint32_t seen = kJobMask + 1;  // no job has this number
    for (;;) {
      wait_for_job(seen);
      seen = job_.load(std::memory_order_acquire);
      if (take_seat(seen)) work(seen);
    }
  }

  // Polls for a job other than `seen` for kPollTime, then sleeps until one.
  void wait_for_job(uint32_t seen) {
    const auto poll_until = Clock::now() + kPollTime;
    for (int spins = 1; job_.load(std::memory_order_acquire) == seen; ++spins) {
      cpu_relax();
      if (spins % kSpinsBetweenYields == 0) std::this_thread::yield();
      if (spins % 256 == 0 && Clock::now() > poll_until) {
        std::unique_lock<std::mutex> lock(sleep_m_);
        sleeping_.fetch_add(1);  // before the check: run() reads it after publishing
        wake_.wait(lock, [&] { return job_.load() != seen; });
        sleeping_.fetch_sub(1);
        return;
      }
    }
  }

  std::mutex owner_;  // held by the thread whose job the pool runs
  // The job, published by claim_ (release) and read after a successful claim.
  std::atomic<void (*)(void*, int64_t)> body_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::exception_ptr error_;
  std::mutex error_m_;
  // Words that threads hammer, each on its own cache line.
  alignas(64) std::atomic<uint64_t> claim_{0};  // see claim_word
  alignas(64) std::atomic<int64_t> done_{0};    // tasks of the current job finished
  alignas(64) std::atomic<uint32_t> job_{0};    // the last job published (wakes helpers)
  std::atomic<uint64_t> seats_{0};              // (job << 32) | helpers it still takes
  std::atomic<bool> failed_{false};
  alignas(64) std::atomic<int> sleeping_{0};
  std::atomic<int> started_{0};
  std::mutex sleep_m_;
  std::condition_variable wake_;
  // Serial mode after stalls (note_wait); stalls_ is the owner's only.
  static constexpr Clock::duration kStall = std::chrono::microseconds(200);
  int stalls_ = 0;                // stalls in a row, each within a second of the last
  Clock::time_point last_stall_{};
  std::atomic<int64_t> serial_until_{0};  // steady_clock ticks; 0: never
};

// Never destroyed: its threads may still be polling while the process exits.
// A child forked from a process with a pool gets a fresh one (the parent's
// threads do not exist there, and their locks may be held forever).
std::atomic<Pool*> g_pool{nullptr};

Pool& pool() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  if (p) return *p;
  static std::once_flag made;
  std::call_once(made, [] {
#if defined(__unix__) || defined(__APPLE__)
    pthread_atfork(nullptr, nullptr, [] { g_pool.store(new Pool); });
#endif
    g_pool.store(new Pool);
  });
  return *g_pool.load(std::memory_order_acquire);
}

struct TaskScope {
  TaskScope() { t_in_task = true; }
  ~TaskScope() { t_in_task = false; }
};

}  // namespace

void pool_run(int threads, int64_t n, void (*body)(void*, int64_t), void* ctx) {
  auto on_this_thread = [&] {
    for (int64_t i = 0; i < n; ++i) body(ctx, i);
  };
  if (threads <= 1 || n <= 1 || t_in_task) return on_this_thread();
  Pool& p = pool();
  std::unique_lock<std::mutex> lock(p.owner(), std::defer_lock);
  // Cores taken by other processes, or the helpers busy with another thread's job.
  if (p.serial_for_now() || !lock.try_lock()) return on_this_thread();
  const TaskScope scope;
  const int helpers = static_cast<int>(std::min<int64_t>(threads, n)) - 1;
  if (n <= kMaxTasks) return p.run(helpers, n, body, ctx);
  // More tasks than a claim word counts: run them in kMaxTasks chunks.
  struct Chunks {
    int64_t n, per;
    void (*body)(void*, int64_t);
    void* ctx;
  } chunks{n, (n + kMaxTasks - 1) / kMaxTasks, body, ctx};
  p.run(helpers, (n + chunks.per - 1) / chunks.per, [](void* c, int64_t k) {
    const Chunks& ch = *static_cast<const Chunks*>(c);
    for (int64_t i = k * ch.per, end = std::min(ch.n, i + ch.per); i < end; ++i) ch.body(ch.ctx, i);
  }, &chunks);
}

bool pool_in_task() { return t_in_task; }

int pool_size() {
  Pool* p = g_pool.load(std::memory_order_acquire);
  return p ? p->size() : 0;
}

}  // namespace pyconv

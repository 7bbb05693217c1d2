// parallel_for over pyconv's own pool: every index runs exactly once, helpers
// really take part, errors reach the caller, nested and concurrent calls
// finish (inline), and the caller never waits for a helper that is asleep.
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "core/thread_pool.h"
#include "core/threads.h"

using pyconv::parallel_for;
using namespace std::chrono_literals;

TEST_CASE(test_every_index_runs_once_static_and_dynamic) {
  for (const bool dynamic : {false, true})
    for (const int64_t n : {2, 3, 7, 64, 1000}) {
      std::vector<std::atomic<int>> hits(n);
      parallel_for(3, n, [&](int64_t i) { hits[i].fetch_add(1); }, dynamic);
      for (int64_t i = 0; i < n; ++i) CHECK(hits[i].load() == 1);
    }
}

// Out of the serial mode an earlier test's slow helper may have started
// (it lasts at most 160 ms; a new thread's first task, or a sanitizer, can
// be that slow).
void wait_out_serial_mode() { std::this_thread::sleep_for(200ms); }

TEST_CASE(test_helpers_take_part) {
  // Two long indices: a second thread runs one of them while the caller runs
  // the other (the helper has a full second to wake up and claim it).
  wait_out_serial_mode();
  std::atomic<int> inside{0}, most{0};
  std::vector<std::thread::id> ran(2);
  parallel_for(2, 2, [&](int64_t i) {
    const int now = inside.fetch_add(1) + 1;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    ran[i] = std::this_thread::get_id();
    const auto until = std::chrono::steady_clock::now() + 1s;
    while (most.load() < 2 && std::chrono::steady_clock::now() < until) {
    }
    inside.fetch_sub(1);
  });
  CHECK(most.load() == 2);
  CHECK(ran[0] != ran[1]);
  CHECK(pyconv::pool_size() >= 1);
}

TEST_CASE(test_an_exception_reaches_the_caller_after_all_calls_return) {
  for (int round = 0; round < 50; ++round) {
    std::atomic<int> running{0};
    bool caught = false;
    try {
      parallel_for(2, 16, [&](int64_t i) {
        running.fetch_add(1);
        std::this_thread::sleep_for(std::chrono::microseconds(50));
        running.fetch_sub(1);
        if (i == 5) throw std::runtime_error("index 5 failed");
      }, /*dynamic=*/true);
    } catch (const std::runtime_error& e) {
      caught = std::string(e.what()) == "index 5 failed";
    }
    CHECK(caught);
    CHECK(running.load() == 0);  // nothing still runs on a helper
  }
  // The pool is still usable afterwards.
  std::atomic<int> sum{0};
  parallel_for(2, 100, [&](int64_t i) { sum.fetch_add(static_cast<int>(i)); });
  CHECK(sum.load() == 4950);
}

TEST_CASE(test_nested_calls_run_inline) {
  std::atomic<int> total{0};
  parallel_for(2, 4, [&](int64_t) {
    parallel_for(2, 8, [&](int64_t) { total.fetch_add(1); }, true);
  }, true);
  CHECK(total.load() == 32);
}

TEST_CASE(test_concurrent_callers_all_finish_with_right_results) {
  // Four threads share the pool: one at a time gets the helpers, the others
  // run their work themselves; every result is still complete.
  std::vector<std::thread> callers;
  std::atomic<int> wrong{0};
  for (int c = 0; c < 4; ++c)
    callers.emplace_back([&, c] {
      for (int round = 0; round < 300; ++round) {
        std::vector<int> out(257, -1);
        parallel_for(2, 257, [&](int64_t i) { out[i] = static_cast<int>(i) * c; }, round % 2);
        for (int i = 0; i < 257; ++i) wrong += out[i] != i * c;
      }
    });
  for (std::thread& t : callers) t.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE(test_the_caller_does_not_wait_for_a_sleeping_helper) {
  // After the helpers have gone to sleep (they poll for 0.1 ms), a job still
  // completes: the caller claims every index no helper has taken.
  std::this_thread::sleep_for(50ms);
  const auto start = std::chrono::steady_clock::now();
  std::atomic<int> count{0};
  parallel_for(2, 1000, [&](int64_t) { count.fetch_add(1); }, true);
  CHECK(count.load() == 1000);
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE(test_more_tasks_than_a_claim_word_counts_each_run_once) {
  // A job counts at most 2^20 - 1 tasks; more are run in chunks.
  const int64_t n = (int64_t{1} << 20) + 7;
  std::vector<uint8_t> hits(static_cast<size_t>(n), 0);
  parallel_for(2, n, [&](int64_t i) { ++hits[static_cast<size_t>(i)]; }, /*dynamic=*/true);
  int64_t wrong = 0;
  for (const uint8_t h : hits) wrong += h != 1;
  CHECK(wrong == 0);
}

TEST_CASE(test_slices_cover_the_range_in_order_whoever_runs_them) {
  // Slice s is always [n s / k, n (s + 1) / k): partial results keyed by
  // slice are the same whichever thread ran which slice.
  for (int round = 0; round < 200; ++round) {
    std::vector<int64_t> lo(3, -1), hi(3, -1);
    pyconv::parallel_slices(3, 10, [&](int64_t s, int64_t a, int64_t b) { lo[s] = a, hi[s] = b; });
    CHECK(lo[0] == 0 && hi[0] == 3 && lo[1] == 3 && hi[1] == 6 && lo[2] == 6 && hi[2] == 10);
  }
}

TEST_CASE(test_parallel_any_finds_one_true_slice) {
  for (int64_t at = 0; at < 64; ++at) {
    const bool found = pyconv::parallel_any(4, 64, [&](int64_t a, int64_t b) { return a <= at && at < b; });
    CHECK(found);
  }
  CHECK(!pyconv::parallel_any(4, 64, [](int64_t, int64_t) { return false; }));
}

TEST_CASE(test_back_to_back_jobs_of_different_sizes_never_mix) {
  // Jobs follow each other closely while helpers still poll: a helper late
  // for one job must never run a task of the next with the old job's body.
  std::vector<int> out(64);
  int64_t wrong = 0;
  for (int round = 0; round < 20000; ++round) {
    const int64_t n = 1 + round % 64;
    const int stamp = round;
    parallel_for(2, n, [&](int64_t i) { out[static_cast<size_t>(i)] = stamp; }, round % 3 == 0);
    for (int64_t i = 0; i < n; ++i) wrong += out[static_cast<size_t>(i)] != stamp;
  }
  CHECK(wrong == 0);
}

TEST_CASE(test_after_a_helper_stalls_jobs_run_on_the_caller_for_a_while) {
  // A helper that holds a task far longer than the caller works (as when it
  // loses its core to another process) puts the pool in serial mode for at
  // least 10 ms: the next jobs run on the calling thread alone; later,
  // helpers join again. Bounded by time, not attempts: on a loaded machine
  // helpers wake late, and a next job that starts more than 10 ms after the
  // stall (this thread descheduled in between) tells nothing: tried again.
  const std::thread::id me = std::this_thread::get_id();
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool measured = false;
  using Clock = std::chrono::steady_clock;
  while (!measured && Clock::now() < deadline) {
    wait_out_serial_mode();
    std::atomic<bool> helper_started{false};
    std::atomic<Clock::rep> helper_done{0};  // serial mode starts after this
    parallel_for(2, 2, [&](int64_t) {
      if (std::this_thread::get_id() != me) {  // the helper: holds its task 30 ms
        helper_started = true;
        std::this_thread::sleep_for(30ms);
        helper_done = Clock::now().time_since_epoch().count();
        return;
      }
      const auto until = Clock::now() + 10ms;  // the caller: up to 10 ms
      while (!helper_started && Clock::now() < until) {
      }
    }, /*dynamic=*/true);
    if (!helper_started) continue;  // the helper never came: no stall
    std::atomic<int> on_helpers{0};
    std::atomic<bool> in_time{false};
    parallel_for(2, 64, [&](int64_t i) {
      if (i == 0)
        in_time = Clock::now() < Clock::time_point(Clock::duration(helper_done.load())) + 10ms;
      on_helpers += std::this_thread::get_id() != me;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }, true);
    if (!in_time) continue;
    CHECK(on_helpers.load() == 0);
    measured = true;
  }
  CHECK(measured);
  // Serial mode lasts at most 160 ms: helpers take part again after it.
  wait_out_serial_mode();
  std::atomic<bool> helped{false};
  while (!helped && std::chrono::steady_clock::now() < deadline)
    parallel_for(2, 2, [&](int64_t) {
      if (std::this_thread::get_id() != me) helped = true;
      const auto until = std::chrono::steady_clock::now() + 1ms;
      while (!helped && std::chrono::steady_clock::now() < until) {
      }
    }, true);
  CHECK(helped.load());
}

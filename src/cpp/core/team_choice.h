// Which team runs a context's small inference calls: all the threads it may
// use, or the calling thread alone.
//
// Why time it: what a second thread gains on small work depends on what it
// costs to hand work to another core, and on a virtual machine that changes
// while a process runs. On the 2-vCPU VM this was measured on, a cache line's
// round trip between the two vCPUs took 60 ns for minutes at a time and 350 ns
// for minutes at a time (the host had moved one), and batch-1 LeNet-5 through
// the C API went from 9.2 us on two threads (11.7 on one) to 20 us. Other
// processes taking the cores do the same. Nothing in a job says which case
// holds, so the calls themselves are timed: a context keeps the team that was
// faster, tries the other now and then (less often while it keeps losing),
// and tries it at once when its own calls get slower.
//
// Results do not depend on the choice: inference gives the same bits on any
// thread count (test_inference_is_bit_identical_on_any_thread_count).
#pragma once
#include <cstdint>

namespace pyconv {

class TeamChoice {
 public:
  // The threads for the next call of `batch` samples with `threads` allowed.
  int pick(int threads, int64_t batch);
  // How long the call pick() set up took (not called if it failed).
  void record(int64_t nanoseconds);

  // Calls this long or longer on all threads are left to them: trying one
  // thread there would cost too much, and helpers pay on work this size.
  static constexpr int64_t kLongCallNs = 1'000'000;
  static constexpr int kKept = 4;  // times kept per team
  // Calls not timed after the team changes: they wake it up (the pool's
  // helpers sleep while one thread runs, and take tens of microseconds to
  // wake: timing them, a 4-call trial of batch-1 LeNet-5 on two threads
  // measured 11.8 us a call where warm ones take 9.3, and kept one thread).
  static constexpr int kWarm = 4;
  static constexpr int kTrial = kWarm + kKept;  // calls per trial
  static constexpr int64_t kFirstWait = 32;   // calls before the first trial, and after a change
  static constexpr int64_t kLongestWait = 1024;

 private:
  struct Times {
    int64_t ns[kKept];
    int count = 0;  // times added so far (the last kKept are kept)
    void add(int64_t t) { ns[count++ % kKept] = t; }
    bool full() const { return count >= kKept; }
    int64_t typical() const;  // the second fastest of the times kept: one slow call does not count
  };

  void reset(int threads, int64_t batch);
  void end_trial();

  int threads_ = 0;
  int64_t batch_ = -1;
  Times times_[2];       // [0]: one thread, [1]: all
  int kept_ = 1;         // the team in use
  int trying_ = -1;      // the team on trial, or -1
  int trial_left_ = 0;   // calls of the trial still to run
  int ran_ = -1;         // the team of the call in flight (-1: nothing to record)
  int last_ = -1;        // the team of the last call
  int warm_ = 0;         // calls still to run untimed
  int64_t since_ = 0;    // calls since the last trial ended
  int64_t wait_ = kFirstWait;
  int64_t settled_ = 0;  // the kept team's typical time when the last trial ended
};

}  // namespace pyconv

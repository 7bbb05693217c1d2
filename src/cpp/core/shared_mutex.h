// A readers-writer lock that prefers writers: once a writer waits, new
// readers wait behind it. std::shared_mutex on glibc prefers readers, so two
// threads predicting back to back could keep a training step (the writer)
// waiting forever.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <mutex>

#include "core/fork_generation.h"

namespace pyconv {

class SharedMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> guard(mutex_);
    adopt_after_fork();
    ++writers_waiting_;
    changed_.wait(guard, [&] { return !writer_ && readers_ == 0; });
    --writers_waiting_;
    writer_ = true;
  }

  void unlock() {
    {
      std::lock_guard<std::mutex> guard(mutex_);
      writer_ = false;
    }
    changed_.notify_all();
  }

  // Not reentrant: a thread that holds it shared must not ask again (a
  // writer waiting in between would deadlock it).
  void lock_shared() {
    std::unique_lock<std::mutex> guard(mutex_);
    adopt_after_fork();
    changed_.wait(guard, [&] { return !writer_ && writers_waiting_ == 0; });
    ++readers_;
  }

  void unlock_shared() {
    bool last;
    {
      std::lock_guard<std::mutex> guard(mutex_);
      last = --readers_ == 0;
    }
    if (last) changed_.notify_all();
  }

 private:
  // In a forked child (core/fork_generation.h) the threads that held it in
  // the parent are gone; the forking thread held it at no fork (it forks
  // between calls, from Python), so the child starts it unheld.
  void adopt_after_fork() {
    const uint32_t now = fork_generation();
    if (now == generation_) return;
    readers_ = writers_waiting_ = 0;
    writer_ = false;
    generation_ = now;
  }

  std::mutex mutex_;
  std::condition_variable changed_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
  uint32_t generation_ = fork_generation();
};

}  // namespace pyconv

// A readers-writer lock that prefers writers: once a writer waits, new
// readers wait behind it. std::shared_mutex on glibc prefers readers, so two
// threads predicting back to back could keep a training step (the writer)
// waiting forever.
#pragma once
#include <condition_variable>
#include <mutex>

namespace pyconv {

class SharedMutex {
 public:
  void lock() {
    std::unique_lock<std::mutex> guard(mutex_);
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
  std::mutex mutex_;
  std::condition_variable changed_;
  int readers_ = 0;
  int writers_waiting_ = 0;
  bool writer_ = false;
};

}  // namespace pyconv

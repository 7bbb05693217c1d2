// Where a model's time goes: per node, the time of its forward and backward
// passes, and of the steps' loss and weight update, counted while profiling
// is on (Graph::profile()). Off, it costs one relaxed load per node.
#pragma once
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/training.h"

namespace pyconv {

class Profile {
 public:
  // What a row of time is for: a node's passes, or a part of a training step.
  enum Part { Forward, Backward, Loss, Update, Step, kParts };
  struct Counts {
    int64_t ns = 0, calls = 0;
  };

  // One row per node; the parts of a step other than nodes count on row 0.
  void resize(size_t nodes);
  bool on() const { return on_.load(std::memory_order_relaxed); }
  void set(bool on) { on_.store(on, std::memory_order_relaxed); }
  void reset();
  void add(size_t node, Part part, int64_t ns);
  Counts get(size_t node, Part part) const;

  // Times a scope into (node, part) while profiling is on.
  class Timer {
   public:
    // A runtime-only build has no way to switch profiling on: no clock code.
    Timer(Profile& p, size_t node, Part part)
        : p_(kTrainingBuilt && p.on() ? &p : nullptr), node_(node), part_(part) {
      if (p_) start_ = std::chrono::steady_clock::now();
    }
    ~Timer() {
      if (p_)
        p_->add(node_, part_,
                std::chrono::duration_cast<std::chrono::nanoseconds>(
                    std::chrono::steady_clock::now() - start_).count());
    }
    Timer(const Timer&) = delete;
    Timer& operator=(const Timer&) = delete;

   private:
    Profile* p_;
    size_t node_;
    Part part_;
    std::chrono::steady_clock::time_point start_;
  };

 private:
  std::atomic<bool> on_{false};
  size_t nodes_ = 0;
  // (node, part) -> nanoseconds and calls; atomics: inference runs on many threads.
  std::unique_ptr<std::atomic<int64_t>[]> ns_, calls_;
};

}  // namespace pyconv

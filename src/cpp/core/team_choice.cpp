#include "core/team_choice.h"

#include <algorithm>
#include <cstdint>

namespace pyconv {

int64_t TeamChoice::Times::typical() const {
  int64_t first = INT64_MAX, second = INT64_MAX;
  for (const int64_t t : ns) {
    if (t < first) {
      second = first;
      first = t;
    } else if (t < second) {
      second = t;
    }
  }
  return second;
}

void TeamChoice::reset(int threads, int64_t batch) {
  *this = TeamChoice();
  threads_ = threads;
  batch_ = batch;
}

int TeamChoice::pick(int threads, int64_t batch) {
  ran_ = -1;
  if (threads <= 1) return 1;
  if (threads != threads_ || batch != batch_) reset(threads, batch);
  if (trying_ < 0 && times_[kept_].full() && since_ >= wait_ &&
      (kept_ == 0 || times_[1].typical() < kLongCallNs)) {
    trying_ = 1 - kept_;
    trial_left_ = kTrial;
    times_[trying_] = Times();
  }
  ran_ = trying_ >= 0 ? trying_ : kept_;
  if (ran_ != last_) warm_ = kWarm;  // a team's first calls wake it up
  last_ = ran_;
  return ran_ == 1 ? threads : 1;
}

void TeamChoice::record(int64_t nanoseconds) {
  if (ran_ < 0) return;
  const int team = ran_;
  ran_ = -1;
  const bool warm = warm_ == 0;
  if (!warm) --warm_;
  if (trying_ >= 0) {
    if (warm) times_[team].add(nanoseconds);
    if (--trial_left_ == 0) end_trial();
    return;
  }
  if (!warm) return;
  times_[team].add(nanoseconds);
  ++since_;
  if (!times_[team].full()) return;
  const int64_t now = times_[team].typical();
  if (settled_ == 0) settled_ = now;
  if (now > settled_ + settled_ / 4) since_ = wait_;  // 1.25x slower: try the other now
}

// The trial's team is kept if it was at least 3% faster; each trial that
// loses doubles the wait before the next (up to kLongestWait calls), so a
// team much slower than the kept one costs little.
void TeamChoice::end_trial() {
  const int64_t tried = times_[trying_].typical(), kept = times_[kept_].typical();
  if (tried < kept - kept / 32) {
    kept_ = trying_;
    wait_ = kFirstWait;
  } else {
    wait_ = std::min(kLongestWait, 2 * wait_);
  }
  trying_ = -1;
  since_ = 0;
  settled_ = times_[kept_].typical();
}

}  // namespace pyconv

// TeamChoice (core/team_choice.h) on made-up call times: it keeps the faster
// team, tries the other less often while that one loses, at once when the
// kept team slows down, never on long calls, and does not time a team's
// first calls after a change.
#include <cstdint>

#include "check.h"
#include "core/team_choice.h"

using pyconv::TeamChoice;

namespace {

constexpr int kThreads = 4;
constexpr int64_t kBatch = 1;

// Runs `calls` calls, one thread taking one_ns and all threads all_ns;
// returns how many of them ran on one thread.
int64_t run(TeamChoice& choice, int64_t calls, int64_t one_ns, int64_t all_ns) {
  int64_t on_one = 0;
  for (int64_t i = 0; i < calls; ++i) {
    const int team = choice.pick(kThreads, kBatch);
    CHECK(team == 1 || team == kThreads);
    on_one += team == 1;
    choice.record(team == 1 ? one_ns : all_ns);
  }
  return on_one;
}

}  // namespace

TEST_CASE(test_all_threads_until_the_first_trial) {
  TeamChoice choice;
  CHECK(run(choice, TeamChoice::kWarm + TeamChoice::kFirstWait, 10'000, 20'000) == 0);
  CHECK(run(choice, TeamChoice::kTrial, 10'000, 20'000) == TeamChoice::kTrial);  // the trial
}

TEST_CASE(test_one_thread_is_kept_where_it_is_faster) {
  TeamChoice choice;
  run(choice, 200, 12'000, 20'000);
  CHECK(run(choice, 100, 12'000, 20'000) >= 100 - 2 * TeamChoice::kTrial);
}

TEST_CASE(test_all_threads_are_kept_where_they_are_faster) {
  // A losing trial costs kTrial calls, and each doubles the wait: in 5,000
  // calls, trials after 32, 64, 128, 256, 512, 1024 and 1024 calls.
  TeamChoice choice;
  const int64_t on_one = run(choice, 5000, 12'000, 9'000);
  CHECK(on_one > 0);
  CHECK(on_one <= 9 * TeamChoice::kTrial);
  CHECK(run(choice, 2 * TeamChoice::kLongestWait, 12'000, 9'000) <= 2 * TeamChoice::kTrial);
}

TEST_CASE(test_a_change_either_way_is_followed) {
  TeamChoice choice;
  run(choice, 2000, 12'000, 9'000);  // all threads win, trials are rare by now
  // Handing work over gets slow: the kept team's calls 2x slower start a trial at once.
  CHECK(run(choice, 20, 12'000, 20'000) >= 20 - 2 * TeamChoice::kTrial);
  CHECK(run(choice, 100, 12'000, 20'000) >= 100 - 2 * TeamChoice::kTrial);
  // And fast again: found at the next trial, at most kLongestWait calls on.
  run(choice, TeamChoice::kLongestWait + 2 * TeamChoice::kTrial, 12'000, 9'000);
  CHECK(run(choice, 100, 12'000, 9'000) <= 2 * TeamChoice::kTrial);
}

TEST_CASE(test_a_trial_s_first_calls_wake_the_team_and_do_not_count) {
  // All threads' first 4 calls after one-thread calls are slow (their
  // helpers were asleep); warm, all threads are faster.
  TeamChoice choice;
  int previous = kThreads;
  int64_t on_one = 0;
  int cold = 0;
  for (int i = 0; i < 3000; ++i) {
    const int team = choice.pick(kThreads, kBatch);
    if (team != previous) cold = team == kThreads ? 4 : 0;
    previous = team;
    on_one += team == 1;
    choice.record(team == 1 ? 12'000 : cold-- > 0 ? 30'000 : 9'000);
  }
  CHECK(on_one <= 8 * TeamChoice::kTrial);  // the one-thread trials only
}

TEST_CASE(test_a_tie_keeps_the_team) {
  TeamChoice choice;  // within 3%: no switch
  run(choice, 500, 10'000, 10'100);
  CHECK(run(choice, 100, 10'000, 10'100) <= TeamChoice::kTrial);
}

TEST_CASE(test_one_slow_call_is_not_a_change) {
  TeamChoice choice;
  run(choice, 2000, 12'000, 9'000);
  // An interrupt now and then: the second fastest of the last 4 is unmoved,
  // so no trial but the one due (trials are 512 or more calls apart by now).
  int64_t on_one = 0;
  for (int i = 0; i < 100; ++i) on_one += run(choice, 1, 12'000, i % 10 == 0 ? 500'000 : 9'000);
  CHECK(on_one <= TeamChoice::kTrial);
}

TEST_CASE(test_long_calls_always_run_on_all_threads) {
  TeamChoice choice;
  CHECK(run(choice, 3000, TeamChoice::kLongCallNs / 2, TeamChoice::kLongCallNs) == 0);
}

TEST_CASE(test_one_thread_allowed_records_nothing) {
  TeamChoice choice;
  for (int i = 0; i < 100; ++i) {
    CHECK(choice.pick(1, kBatch) == 1);
    choice.record(1'000'000'000);  // ignored: nothing was picked
  }
  CHECK(run(choice, TeamChoice::kWarm + TeamChoice::kFirstWait, 1'000, 2'000) == 0);
}

TEST_CASE(test_a_new_batch_size_or_thread_count_starts_over) {
  TeamChoice choice;
  run(choice, 200, 12'000, 20'000);
  CHECK(choice.pick(kThreads, kBatch) == 1);
  choice.record(12'000);
  CHECK(choice.pick(kThreads, kBatch + 1) == kThreads);  // a batch size of its own
  choice.record(20'000);
  run(choice, 200, 12'000, 20'000);
  CHECK(choice.pick(kThreads - 1, kBatch) == kThreads - 1);
}

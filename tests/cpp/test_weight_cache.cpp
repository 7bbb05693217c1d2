// WeightCache: built once per weights version and key, shared by threads,
// and a value a caller holds survives a rebuild.
#include <atomic>
#include <stdexcept>
#include <thread>
#include <vector>

#include "check.h"
#include "ops/weight_cache.h"

using pyconv::Tensor;
using pyconv::ops::WeightCache;

namespace {
// A build that writes `value` into a one-float tensor and counts its calls.
auto fill(float value, std::atomic<int>& builds) {
  return [value, &builds](Tensor& t) {
    ++builds;
    t.resize({1});
    t.data()[0] = value;
  };
}
const char kTableA[] = "a", kTableB[] = "b";
}  // namespace

TEST_CASE(test_builds_once_per_version_and_key) {
  WeightCache cache;
  std::atomic<int> builds{0};
  CHECK(cache.get(0, kTableA, fill(1.f, builds))->data()[0] == 1.f);
  CHECK(cache.get(0, kTableA, fill(2.f, builds))->data()[0] == 1.f);  // kept
  CHECK(builds == 1);
  CHECK(cache.get(1, kTableA, fill(3.f, builds))->data()[0] == 3.f);  // new weights
  CHECK(cache.get(1, kTableB, fill(4.f, builds))->data()[0] == 4.f);  // another layout
  CHECK(builds == 3);
}

TEST_CASE(test_held_value_survives_a_rebuild) {
  WeightCache cache;
  std::atomic<int> builds{0};
  std::shared_ptr<const Tensor> held = cache.get(0, kTableA, fill(1.f, builds));
  std::shared_ptr<const Tensor> fresh = cache.get(1, kTableA, fill(2.f, builds));
  CHECK(held->data()[0] == 1.f);
  CHECK(fresh->data()[0] == 2.f);
  CHECK(held.get() != fresh.get());
}

TEST_CASE(test_failed_build_is_retried) {
  WeightCache cache;
  std::atomic<int> builds{0};
  cache.get(0, kTableA, fill(1.f, builds));
  bool threw = false;
  try {
    cache.get(1, kTableA, [](Tensor& t) {
      t.data()[0] = 9.f;  // half written, then fails
      throw std::runtime_error("out of memory");
    });
  } catch (const std::runtime_error&) {
    threw = true;
  }
  CHECK(threw);
  // The failed build wrote into version 0's buffer: that is rebuilt too.
  CHECK(cache.get(0, kTableA, fill(3.f, builds))->data()[0] == 3.f);
  CHECK(cache.get(1, kTableA, fill(2.f, builds))->data()[0] == 2.f);
}

TEST_CASE(test_threads_share_one_build) {
  WeightCache cache;
  std::atomic<int> builds{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i)
        if (cache.get(7, kTableA, fill(5.f, builds))->data()[0] != 5.f) ++wrong;
    });
  for (std::thread& t : threads) t.join();
  CHECK(builds == 1);
  CHECK(wrong == 0);
}

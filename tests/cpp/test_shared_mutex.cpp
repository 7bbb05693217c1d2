// SharedMutex prefers writers: a reader that arrives while a writer waits
// goes after it. (A reader-preferring lock let two threads predicting back
// to back keep a training step waiting for as long as they ran.)
#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>

#include "check.h"
#include "core/shared_mutex.h"

using pyconv::SharedMutex;
using namespace std::chrono_literals;

TEST_CASE(test_a_waiting_writer_goes_before_new_readers) {
  SharedMutex m;
  std::atomic<bool> writer_done{false}, reader_saw_writer_done{false};
  m.lock_shared();
  std::thread writer([&] {
    std::unique_lock<SharedMutex> lock(m);
    writer_done = true;
  });
  std::this_thread::sleep_for(50ms);  // the writer now waits for the first reader
  std::thread reader([&] {
    std::shared_lock<SharedMutex> lock(m);
    reader_saw_writer_done = writer_done.load();
  });
  std::this_thread::sleep_for(50ms);
  CHECK(!writer_done);  // still held shared
  m.unlock_shared();
  writer.join();
  reader.join();
  CHECK(reader_saw_writer_done);
}

TEST_CASE(test_readers_share_and_writers_exclude) {
  SharedMutex m;
  int value = 0;
  std::atomic<int> torn{0};
  auto read = [&] {
    for (int i = 0; i < 2000; ++i) {
      std::shared_lock<SharedMutex> lock(m);
      if (value % 2) ++torn;  // a writer is half way through
    }
  };
  auto write = [&] {
    for (int i = 0; i < 2000; ++i) {
      std::unique_lock<SharedMutex> lock(m);
      ++value;  // odd only while the lock is held
      ++value;
    }
  };
  std::thread r1(read), r2(read), w(write);
  r1.join();
  r2.join();
  w.join();
  CHECK(torn == 0);
  CHECK(value == 4000);
}

// The C API against the C++ graph it wraps: same numbers, thread safety,
// every error path returns a status (never throws or crashes), and a
// runner's repeated batch-1 calls reuse their scratch.
#include <pyconv/pyconv.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include "capi/capi_internal.h"
#include "graph/graph.h"
#include "io/model_file.h"
#include "kernels/dispatch.h"
#include "check.h"
#include "sample_quantized.h"

// Counts heap allocations, to show what a runner call allocates.
static std::atomic<int64_t> g_allocations{0}, g_bytes{0};
void* operator new(size_t n) {
  ++g_allocations;
  g_bytes += static_cast<int64_t>(n);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// The nothrow form too (std::stable_sort's buffer), so every delete matches its new.
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  ++g_allocations;
  g_bytes += static_cast<int64_t>(n);
  return std::malloc(n ? n : 1);
}
// GCC at -Os sees free() given what operator new returned, not knowing
// these are that operator's own replacements.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
#pragma GCC diagnostic pop

namespace {

using pyconv::Attrs;
using pyconv::AttrValue;

Attrs layer(std::map<std::string, AttrValue> values) { return Attrs(std::move(values)); }

// A small CNN for (side, side, 1) inputs, 10 softmax outputs.
std::unique_ptr<pyconv::Graph> small_cnn(int64_t side = 8) {
  std::vector<Attrs> layers = {
      layer({{"type", std::string("Conv2D")}, {"filters", int64_t{4}}, {"kernel_size", int64_t{3}},
             {"activation", std::string("relu")}}),
      layer({{"type", std::string("MaxPooling2D")}}),
      layer({{"type", std::string("Flatten")}}),
      layer({{"type", std::string("Dense")}, {"units", int64_t{10}}, {"activation", std::string("softmax")}}),
  };
  return std::make_unique<pyconv::Graph>(layers, pyconv::Shape{side, side, 1}, 42);
}

std::vector<float> ramp(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>((i * 37) % 101) / 101.0f;
  return v;
}

TEST_CASE(test_predict_matches_graph) {
  auto g = small_cnn();
  const pyconv::Graph& ref = *g;
  const std::vector<float> x = ramp(3 * 64);
  pyconv::Tensor tx(pyconv::Shape{3, 8, 8, 1}), want;
  std::memcpy(tx.data(), x.data(), x.size() * sizeof(float));
  ref.predict(tx, want);

  pcv_model* m = pyconv::capi::wrap_graph(std::move(g));
  int64_t dims[PCV_MAX_RANK];
  int rank = 0;
  CHECK(pcv_model_input_shape(m, dims, &rank) == PCV_OK);
  CHECK(rank == 3 && dims[0] == 8 && dims[1] == 8 && dims[2] == 1);
  CHECK(pcv_model_output_shape(m, dims, &rank) == PCV_OK);
  CHECK(rank == 1 && dims[0] == 10);

  std::vector<float> out(30, -1.0f);
  CHECK(pcv_model_predict(m, x.data(), 3, out.data()) == PCV_OK);
  CHECK(std::memcmp(out.data(), want.data(), 30 * sizeof(float)) == 0);

  pcv_runner* r = nullptr;
  CHECK(pcv_runner_new(m, &r) == PCV_OK && r != nullptr);
  std::fill(out.begin(), out.end(), -1.0f);
  CHECK(pcv_runner_predict(r, x.data(), 3, out.data()) == PCV_OK);
  CHECK(std::memcmp(out.data(), want.data(), 30 * sizeof(float)) == 0);
  // Batch 1 after batch 3 on the same runner: the first sample again.
  CHECK(pcv_runner_predict(r, x.data(), 1, out.data()) == PCV_OK);
  CHECK(std::memcmp(out.data(), want.data(), 10 * sizeof(float)) == 0);
  pcv_runner_free(r);
  pcv_model_free(m);
}

// Outputs are written straight into the caller's buffer unless it shares
// memory with the input: a buffer that is also the input (a transpose reads
// values its first outputs overwrite) gives the same result as a separate one.
TEST_CASE(test_output_may_be_the_input) {
  const std::vector<pyconv::Attrs> layers = {
      layer({{"type", std::string("Permute")}, {"dims", std::vector<int64_t>{2, 1, 3}}}),
  };
  pcv_model* m = pyconv::capi::wrap_graph(
      std::make_unique<pyconv::Graph>(layers, pyconv::Shape{8, 8, 1}, 7));
  const std::vector<float> x = ramp(2 * 64);
  std::vector<float> apart(x.size()), in_place = x;
  CHECK(pcv_model_predict(m, x.data(), 2, apart.data()) == PCV_OK);
  CHECK(pcv_model_predict(m, in_place.data(), 2, in_place.data()) == PCV_OK);
  CHECK(std::memcmp(apart.data(), in_place.data(), x.size() * sizeof(float)) == 0);
  std::vector<float> shifted(x.size() + 5);  // overlapping, not equal
  std::copy(x.begin(), x.end(), shifted.begin() + 5);
  CHECK(pcv_model_predict(m, shifted.data() + 5, 2, shifted.data()) == PCV_OK);
  CHECK(std::memcmp(apart.data(), shifted.data(), x.size() * sizeof(float)) == 0);
  pcv_model_free(m);
}

TEST_CASE(test_errors) {
  pcv_model* m = pyconv::capi::wrap_graph(small_cnn());
  std::vector<float> x = ramp(64), out(10);
  int64_t dims[PCV_MAX_RANK];
  int rank;
  CHECK(pcv_model_predict(nullptr, x.data(), 1, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(std::strstr(pcv_last_error(), "model") != nullptr);
  CHECK(pcv_model_predict(m, nullptr, 1, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_predict(m, x.data(), 1, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_predict(m, x.data(), 0, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_predict(m, x.data(), -5, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_predict(m, x.data(), INT64_MAX / 2, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(std::strstr(pcv_last_error(), "overflows") != nullptr);
  x[5] = NAN;  // the graph rejects non-finite input: a ValueError, so ARGUMENT
  CHECK(pcv_model_predict(m, x.data(), 1, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_input_shape(m, nullptr, &rank) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_output_shape(m, dims, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_input_shape(nullptr, dims, &rank) == PCV_ERR_ARGUMENT);

  pcv_runner* r = reinterpret_cast<pcv_runner*>(&rank);
  CHECK(pcv_runner_new(nullptr, &r) == PCV_ERR_ARGUMENT && r == nullptr);
  CHECK(pcv_runner_new(m, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_runner_predict(nullptr, x.data(), 1, out.data()) == PCV_ERR_ARGUMENT);

  pcv_model* loaded = m;
  CHECK(pcv_model_load(nullptr, &loaded) == PCV_ERR_ARGUMENT && loaded == nullptr);
  CHECK(pcv_model_load("x.pcv", nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_load_memory(nullptr, 10, &loaded) == PCV_ERR_ARGUMENT && loaded == nullptr);
  const pcv_status missing = pcv_model_load("/nonexistent/dir/model.pcv", &loaded);
  CHECK(missing != PCV_OK && loaded == nullptr && std::strlen(pcv_last_error()) > 0);
  const char junk[] = "definitely not a model file";
  CHECK(pcv_model_load_memory(junk, sizeof junk, &loaded) != PCV_OK && loaded == nullptr);

  CHECK(pcv_set_num_threads(-1) == PCV_ERR_ARGUMENT);
  CHECK(pcv_set_num_threads(2) == PCV_OK);
  CHECK(pcv_set_num_threads(0) == PCV_OK);

  CHECK(std::strcmp(pcv_status_string(PCV_ERR_SHAPE), "PCV_ERR_SHAPE") == 0);
  CHECK(std::strcmp(pcv_status_string(static_cast<pcv_status>(99)), "PCV_ERR_UNKNOWN") == 0);
  CHECK(std::strlen(pcv_version()) > 0);
  pcv_model_free(nullptr);
  pcv_runner_free(nullptr);
  pcv_model_free(m);
}

// The message is per thread: another thread's failure does not replace ours.
TEST_CASE(test_last_error_is_per_thread) {
  pcv_set_num_threads(-1);
  const std::string mine = pcv_last_error();
  std::string theirs;
  std::thread t([&] {
    pcv_model_predict(nullptr, nullptr, 1, nullptr);
    theirs = pcv_last_error();
  });
  t.join();
  CHECK(mine == pcv_last_error());
  CHECK(theirs != mine && !theirs.empty());
}

// Many threads on one model (pcv_model_predict) and one runner per thread
// give the serial results bit for bit.
TEST_CASE(test_threads) {
  pcv_model* m = pyconv::capi::wrap_graph(small_cnn());
  const int kThreads = 4, kIters = 20;
  const std::vector<float> x = ramp(5 * 64);
  std::vector<float> want(50);
  CHECK(pcv_model_predict(m, x.data(), 5, want.data()) == PCV_OK);
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      pcv_runner* r = nullptr;
      if (t % 2 && pcv_runner_new(m, &r) != PCV_OK) ++mismatches;
      std::vector<float> out(50);
      for (int i = 0; i < kIters; ++i) {
        const pcv_status s = r ? pcv_runner_predict(r, x.data(), 5, out.data())
                               : pcv_model_predict(m, x.data(), 5, out.data());
        if (s != PCV_OK || std::memcmp(out.data(), want.data(), sizeof(float) * 50) != 0)
          ++mismatches;
      }
      pcv_runner_free(r);
    });
  for (std::thread& t : threads) t.join();
  CHECK(mismatches == 0);
  pcv_model_free(m);
}

// LeNet-5 as the benchmarks run it: conv with "same" padding, average
// pooling, three dense layers, softmax.
std::unique_ptr<pyconv::Graph> lenet5() {
  auto conv = [](int64_t filters, const char* padding) {
    return layer({{"type", std::string("Conv2D")}, {"filters", filters}, {"kernel_size", int64_t{5}},
                  {"padding", std::string(padding)}, {"activation", std::string("relu")}});
  };
  auto dense = [](int64_t units, const char* activation) {
    return layer({{"type", std::string("Dense")}, {"units", units},
                  {"activation", std::string(activation)}});
  };
  const Attrs pool = layer({{"type", std::string("AveragePooling2D")}});
  std::vector<Attrs> layers = {conv(6, "same"), pool, conv(16, "valid"), pool,
                               layer({{"type", std::string("Flatten")}}),
                               dense(120, "relu"), dense(84, "relu"), dense(10, "softmax")};
  return std::make_unique<pyconv::Graph>(layers, pyconv::Shape{28, 28, 1}, 7);
}

// After the first call, a runner's batch-1 calls allocate nothing at all:
// activations, per-node inputs, shapes and views live in the runner.
void check_runner_allocates_nothing(std::unique_ptr<pyconv::Graph> g, int threads) {
  const int64_t in = pyconv::shape_numel(g->input_shape());
  const int64_t outs = pyconv::shape_numel(g->output_shape());
  pcv_model* m = pyconv::capi::wrap_graph(std::move(g));
  CHECK(pcv_set_num_threads(threads) == PCV_OK);
  pcv_runner* r = nullptr;
  CHECK(pcv_runner_new(m, &r) == PCV_OK);
  const std::vector<float> x = ramp(in);
  std::vector<float> out(static_cast<size_t>(outs)), first(out.size());
  // Warm up until 20 calls in a row allocate nothing, for at least 0.3 s:
  // kernels keep per-thread scratch, and with threads claiming work
  // dynamically a busy machine can keep a helper out of the first calls (its
  // scratch then grows once), or put the pool in its serial mode for up to
  // 160 ms (core/thread_pool.cpp).
  const auto warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  for (int quiet = 0, i = 0;
       (quiet < 20 || std::chrono::steady_clock::now() < warm_until) && i < 200000; ++i) {
    const int64_t before = g_allocations;
    CHECK(pcv_runner_predict(r, x.data(), 1, first.data()) == PCV_OK);
    quiet = g_allocations == before ? quiet + 1 : 0;
  }
  const int kCalls = 100;
  const int64_t calls_before = g_allocations, bytes_before = g_bytes;
  int failed = 0;
  for (int i = 0; i < kCalls; ++i) failed += pcv_runner_predict(r, x.data(), 1, out.data()) != PCV_OK;
  const int64_t calls = g_allocations - calls_before, bytes = g_bytes - bytes_before;
  std::printf("runner batch-1, %d thread(s): %lld heap allocations (%lld bytes) in %d calls\n",
              threads, static_cast<long long>(calls), static_cast<long long>(bytes), kCalls);
  CHECK(failed == 0);
  CHECK(calls == 0);
  CHECK(std::memcmp(out.data(), first.data(), sizeof(float) * out.size()) == 0);
  pcv_runner_free(r);
  pcv_model_free(m);
  CHECK(pcv_set_num_threads(0) == PCV_OK);
}

TEST_CASE(test_runner_allocates_nothing) {
  for (int threads : {1, 2}) {
    check_runner_allocates_nothing(small_cnn(32), threads);
    check_runner_allocates_nothing(lenet5(), threads);
  }
}

// The reference kernels too: they are what an ISA without optimised kernels
// runs (found on aarch64: the reference GEMM allocated its packing buffers
// on every call).
TEST_CASE(test_runner_allocates_nothing_on_the_reference_kernels) {
  const std::string was = pyconv::kernels::active().isa;
  pyconv::kernels::select_isa("ref");
  for (int threads : {1, 2}) {
    check_runner_allocates_nothing(small_cnn(32), threads);
    check_runner_allocates_nothing(lenet5(), threads);
  }
  pyconv::kernels::select_isa(was);
}

// A saved model loads through the C API from memory and from a file and
// predicts what the graph did; corrupt or missing files give FORMAT and IO.
TEST_CASE(test_load_saved_model) {
  auto g = small_cnn();
  const std::vector<float> x = ramp(2 * 64);
  pyconv::Tensor tx(pyconv::Shape{2, 8, 8, 1}), want;
  std::memcpy(tx.data(), x.data(), x.size() * sizeof(float));
  g->predict(tx, want);
  const std::vector<uint8_t> bytes = pyconv::save_model_bytes(*g);
  const std::string path = "/tmp/pcv_capi_test_" + std::to_string(::getpid()) + ".pcv";
  pyconv::save_model_file(*g, path);

  std::vector<float> out(20);
  pcv_model* m = nullptr;
  CHECK(pcv_model_load_memory(bytes.data(), bytes.size(), &m) == PCV_OK && m);
  CHECK(pcv_model_predict(m, x.data(), 2, out.data()) == PCV_OK);
  CHECK(std::memcmp(out.data(), want.data(), sizeof(float) * 20) == 0);
  pcv_model_free(m);
  m = nullptr;
  CHECK(pcv_model_load(path.c_str(), &m) == PCV_OK && m);
  std::fill(out.begin(), out.end(), 0.0f);
  CHECK(pcv_model_predict(m, x.data(), 2, out.data()) == PCV_OK);
  CHECK(std::memcmp(out.data(), want.data(), sizeof(float) * 20) == 0);
  pcv_model_free(m);
  std::remove(path.c_str());

  CHECK(pcv_model_load(path.c_str(), &m) == PCV_ERR_IO && m == nullptr);
  CHECK(pcv_model_load_memory(bytes.data(), 0, &m) == PCV_ERR_FORMAT && m == nullptr);
  int wrong = 0;
  for (size_t n = 0; n < bytes.size(); n += 1 + n / 8)  // truncated anywhere
    if (pcv_model_load_memory(bytes.data(), n, &m) != PCV_ERR_FORMAT || m) ++wrong;
  std::vector<uint8_t> flipped = bytes;
  flipped[bytes.size() / 2] ^= 0x5a;  // the checksum catches it
  if (pcv_model_load_memory(flipped.data(), flipped.size(), &m) != PCV_ERR_FORMAT || m) ++wrong;
  CHECK(wrong == 0);
  CHECK(std::strlen(pcv_last_error()) > 0);
}

// A quantized model (tests/cpp/sample_quantized.h) through the C API: it
// loads, predicts probabilities with a runner and without, allocating
// nothing once warm, and refuses to train.
TEST_CASE(test_quantized_model) {
  const pyconv::test::SampleQuantized sample = pyconv::test::sample_quantized();
  const std::vector<uint8_t> bytes = pyconv::io::encode(sample.record);
  pcv_model* m = nullptr;
  CHECK(pcv_model_load_memory(bytes.data(), bytes.size(), &m) == PCV_OK && m);
  if (!m) return;
  int64_t dims[PCV_MAX_RANK];
  int rank = 0;
  CHECK(pcv_model_output_shape(m, dims, &rank) == PCV_OK && rank == 1 && dims[0] == 3);
  const std::vector<float> x = ramp(2 * 36);
  std::vector<float> a(6), b(6);
  CHECK(pcv_model_predict(m, x.data(), 2, a.data()) == PCV_OK);
  CHECK(std::abs(a[0] + a[1] + a[2] - 1.f) < 1e-5f && std::abs(a[3] + a[4] + a[5] - 1.f) < 1e-5f);
  pcv_runner* r = nullptr;
  CHECK(pcv_runner_new(m, &r) == PCV_OK);
  CHECK(pcv_runner_predict(r, x.data(), 2, b.data()) == PCV_OK);
  const int64_t before = g_allocations;
  CHECK(pcv_runner_predict(r, x.data(), 2, b.data()) == PCV_OK);
  CHECK(g_allocations == before);
  CHECK(a == b);
  CHECK(pcv_model_compile(m, "adam", "mean_squared_error") == PCV_ERR_STATE);
  pcv_runner_free(r);
  pcv_model_free(m);
}

}  // namespace


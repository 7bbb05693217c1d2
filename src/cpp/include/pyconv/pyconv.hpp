// pyconv C++ API: a thin, header-only RAII layer over the C API (pyconv.h),
// so the library's ABI stays C (the pattern of ggml's ggml-cpp.h). It builds,
// trains, saves, loads and runs models without Python, through the same core
// and the same .pcv file as the Python API.
//
//   pyconv::Model model = pyconv::Model::create(
//       {"Conv2D filters=16 kernel_size=3 activation=relu", "MaxPooling2D pool_size=2",
//        "Flatten", "Dense units=10 activation=softmax"},
//       {28, 28, 1}, /*seed=*/42);
//   model.compile("adam learning_rate=0.001", "sparse_categorical_crossentropy");
//   model.fit(x, y, n, /*batch_size=*/32, /*epochs=*/2);
//   pyconv::Metrics m = model.evaluate(x_test, y_test, n_test);
//   std::vector<float> p = model.predict(x_test, n_test);
//   model.save("digits.pcv");   // Python: pyconv.models.load_model("digits.pcv")
//
// The layer, optimizer and loss lines are described in pyconv.h. Every
// failure throws pyconv::Error, which carries the pcv_status and the
// library's message. Arrays are float32, C order, channels-last: a batch of
// n samples is n x (input shape) floats; targets are n x target_shape()
// (one class index per sample for sparse_categorical_crossentropy).
//
// Threads: as in pyconv.h. predict and evaluate may run on one Model from
// many threads; train_step and fit from one thread at a time; a Runner per
// thread reuses its scratch between calls.
//
// Names: this header adds Error, Metrics, Model and Runner to namespace
// pyconv and its helpers to pyconv::api_detail; the library's own C++ code
// (also in namespace pyconv, inside libpyconv) uses none of these names.
#ifndef PYCONV_PYCONV_HPP
#define PYCONV_PYCONV_HPP

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "pyconv.h"

namespace pyconv {

// A failed call: status() is the C API's status, what() its message.
class Error : public std::runtime_error {
 public:
  Error(pcv_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  pcv_status status() const noexcept { return status_; }

 private:
  pcv_status status_;
};

// A mean loss and the fraction of samples predicted right.
struct Metrics {
  double loss = 0.0;
  double accuracy = 0.0;
};

namespace api_detail {

// Throws the calling thread's last C API error (copied at once: the next
// failing call overwrites it).
inline void check(pcv_status status) {
  if (status != PCV_OK) throw Error(status, pcv_last_error());
}

[[noreturn]] inline void fail(pcv_status status, const std::string& message) {
  throw Error(status, message);
}

struct ModelFree {
  void operator()(pcv_model* m) const noexcept { pcv_model_free(m); }
};
struct RunnerFree {
  void operator()(pcv_runner* r) const noexcept { pcv_runner_free(r); }
};

// a * b for element counts, as size_t; an Error instead of wrapping around
// (size_t may be 32 bits on the boards this runs on).
inline size_t count(int64_t a, int64_t b) {
  if (a < 0 || b < 0) fail(PCV_ERR_ARGUMENT, "a negative size");
  if (b != 0 && a > std::numeric_limits<int64_t>::max() / b)
    fail(PCV_ERR_ARGUMENT, std::to_string(a) + " * " + std::to_string(b) + " overflows");
  const int64_t n = a * b;
  if (static_cast<uint64_t>(n) > std::numeric_limits<size_t>::max())
    fail(PCV_ERR_MEMORY, std::to_string(n) + " elements do not fit in memory here");
  return static_cast<size_t>(n);
}

// The floats of `batch` samples of `size` each, for a vector the C call fills:
// a batch below 1 is refused here as the C call would (an empty vector's
// null data() would otherwise be reported instead).
inline size_t batch_floats(int64_t batch, int64_t size) {
  if (batch <= 0) fail(PCV_ERR_ARGUMENT, "batch must be positive, received " + std::to_string(batch));
  return count(batch, size);
}

inline std::vector<int64_t> shape(pcv_status (*query)(const pcv_model*, int64_t*, int*),
                                  const pcv_model* m) {
  int64_t dims[PCV_MAX_RANK];
  int rank = 0;
  check(query(m, dims, &rank));
  return std::vector<int64_t>(dims, dims + rank);
}

inline int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n = static_cast<int64_t>(count(n, d));
  return n;
}

// SplitMix64: a small, fixed generator, so a seed shuffles the same way on
// every platform and standard library (std::shuffle does not promise that).
class Shuffler {
 public:
  explicit Shuffler(uint64_t seed) : state_(seed) {}
  // Fisher-Yates with unbiased bounded draws.
  void shuffle(std::vector<int64_t>& v) {
    for (size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
  }

 private:
  uint64_t next() {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t bound) {  // rejects the top sliver that would bias r % bound
    const uint64_t threshold = (0 - bound) % bound;
    for (;;)
      if (const uint64_t r = next(); r >= threshold) return r % bound;
  }
  uint64_t state_;
};

}  // namespace api_detail

// A model: layers, weights, loss and optimizer. Move-only; owns its pcv_model.
class Model {
 public:
  // Takes ownership of a handle from the C API (nullptr gives an empty Model).
  explicit Model(pcv_model* handle = nullptr) noexcept : m_(handle) {}

  static Model load(const std::string& path) {
    pcv_model* m = nullptr;
    api_detail::check(pcv_model_load(path.c_str(), &m));
    return Model(m);
  }
  static Model load_memory(const void* data, size_t size) {
    pcv_model* m = nullptr;
    api_detail::check(pcv_model_load_memory(data, size, &m));
    return Model(m);
  }
  // A new chain of layers, one "Type key=value ..." line each (see pyconv.h),
  // for samples of `input_shape`; the same seed gives the same weights.
  static Model create(const std::vector<std::string>& layers,
                      const std::vector<int64_t>& input_shape, uint64_t seed = 0) {
    if (layers.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        input_shape.size() > static_cast<size_t>(std::numeric_limits<int>::max()))
      api_detail::fail(PCV_ERR_ARGUMENT, "too many layers or dimensions");
    std::vector<const char*> lines;
    for (const std::string& l : layers) lines.push_back(l.c_str());
    pcv_model* m = nullptr;
    api_detail::check(pcv_model_create(lines.data(), static_cast<int>(lines.size()),
                                       input_shape.data(), static_cast<int>(input_shape.size()),
                                       seed, &m));
    return Model(m);
  }

  // Keras's order: compile("adam learning_rate=0.001", "sparse_categorical_crossentropy").
  void compile(const std::string& optimizer, const std::string& loss) {
    api_detail::check(pcv_model_compile(get(), optimizer.c_str(), loss.c_str()));
  }

  // One optimizer step on `batch` samples.
  Metrics train_step(const float* x, const float* y, int64_t batch) {
    double loss = 0.0;
    int64_t correct = 0;
    api_detail::check(pcv_model_train_step(get(), x, y, batch, &loss, &correct));
    return {loss, static_cast<double>(correct) / static_cast<double>(batch)};
  }

  // `epochs` passes over n samples in shuffled batches (the last one may be
  // smaller); the order comes from `seed` alone. Returns each epoch's mean
  // training loss and accuracy, and hands them to on_epoch_end(epoch, m) too.
  std::vector<Metrics> fit(const float* x, const float* y, int64_t n, int64_t batch_size = 32,
                           int epochs = 1, uint64_t seed = 0,
                           const std::function<void(int, const Metrics&)>& on_epoch_end = {}) {
    check_count(n, batch_size);
    if (epochs < 0) api_detail::fail(PCV_ERR_ARGUMENT, "epochs must be >= 0");
    if (!x || !y) api_detail::fail(PCV_ERR_ARGUMENT, "x and y must not be NULL");
    const int64_t x_size = input_size(), y_size = target_size();
    api_detail::count(n, x_size);  // the caller's arrays must be addressable
    api_detail::count(n, y_size);
    const int64_t b_max = std::min(batch_size, n);
    std::vector<float> xb(api_detail::count(b_max, x_size)), yb(api_detail::count(b_max, y_size));
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), int64_t{0});
    api_detail::Shuffler shuffler(seed);
    std::vector<Metrics> history;
    for (int epoch = 0; epoch < epochs; ++epoch) {
      shuffler.shuffle(order);
      double loss_sum = 0.0;
      int64_t right = 0;
      for (int64_t start = 0; start < n; start += batch_size) {
        const int64_t b = std::min(batch_size, n - start);
        for (int64_t i = 0; i < b; ++i) {  // gather the batch's samples
          const int64_t k = order[static_cast<size_t>(start + i)];
          std::copy_n(x + k * x_size, x_size, xb.data() + i * x_size);
          std::copy_n(y + k * y_size, y_size, yb.data() + i * y_size);
        }
        double loss = 0.0;
        int64_t correct = 0;
        api_detail::check(pcv_model_train_step(get(), xb.data(), yb.data(), b, &loss, &correct));
        loss_sum += loss * static_cast<double>(b);
        right += correct;
      }
      history.push_back({loss_sum / static_cast<double>(n),
                         static_cast<double>(right) / static_cast<double>(n)});
      if (on_epoch_end) on_epoch_end(epoch, history.back());
    }
    return history;
  }

  // Mean loss and accuracy over n samples, `batch_size` at a time.
  Metrics evaluate(const float* x, const float* y, int64_t n, int64_t batch_size = 256) const {
    check_count(n, batch_size);
    if (!x || !y) api_detail::fail(PCV_ERR_ARGUMENT, "x and y must not be NULL");
    const int64_t x_size = input_size(), y_size = target_size();
    api_detail::count(n, x_size);
    api_detail::count(n, y_size);
    double loss_sum = 0.0;
    int64_t right = 0;
    for (int64_t start = 0; start < n; start += batch_size) {
      const int64_t b = std::min(batch_size, n - start);
      double loss = 0.0;
      int64_t correct = 0;
      api_detail::check(pcv_model_evaluate(get(), x + start * x_size, y + start * y_size, b,
                                           &loss, &correct));
      loss_sum += loss * static_cast<double>(b);
      right += correct;
    }
    return {loss_sum / static_cast<double>(n),
            static_cast<double>(right) / static_cast<double>(n)};
  }

  // Outputs for `batch` samples: into out (batch x output_size() floats) or a new vector.
  void predict(const float* x, int64_t batch, float* out) const {
    api_detail::check(pcv_model_predict(get(), x, batch, out));
  }
  std::vector<float> predict(const float* x, int64_t batch) const {
    std::vector<float> out(api_detail::batch_floats(batch, output_size()));
    predict(x, batch, out.data());
    return out;
  }
  // The same for a whole vector of samples (its size a multiple of input_size()).
  std::vector<float> predict(const std::vector<float>& x) const {
    const int64_t size = input_size();
    if (x.empty() || x.size() % static_cast<size_t>(size) != 0)
      api_detail::fail(PCV_ERR_SHAPE, std::to_string(x.size()) + " floats are not a whole "
                       "number of samples of " + std::to_string(size));
    return predict(x.data(), static_cast<int64_t>(x.size() / static_cast<size_t>(size)));
  }

  // Writes a .pcv file (atomically) that Python and pyconv-run load.
  void save(const std::string& path) const { api_detail::check(pcv_model_save(get(), path.c_str())); }

  // Per-sample shapes (no batch axis) and their element counts.
  std::vector<int64_t> input_shape() const { return api_detail::shape(pcv_model_input_shape, get()); }
  std::vector<int64_t> output_shape() const {
    return api_detail::shape(pcv_model_output_shape, get());
  }
  std::vector<int64_t> target_shape() const {  // needs compile (or a compiled file)
    return api_detail::shape(pcv_model_target_shape, get());
  }
  int64_t input_size() const { return api_detail::numel(input_shape()); }
  int64_t output_size() const { return api_detail::numel(output_shape()); }
  int64_t target_size() const { return api_detail::numel(target_shape()); }

  pcv_model* get() const noexcept { return m_.get(); }
  pcv_model* release() noexcept { return m_.release(); }
  explicit operator bool() const noexcept { return m_ != nullptr; }

 private:
  static void check_count(int64_t n, int64_t batch_size) {
    if (n <= 0) api_detail::fail(PCV_ERR_ARGUMENT, "expected at least one sample, received " +
                                                       std::to_string(n));
    if (batch_size <= 0)
      api_detail::fail(PCV_ERR_ARGUMENT,
                       "batch_size must be positive, received " + std::to_string(batch_size));
  }

  std::unique_ptr<pcv_model, api_detail::ModelFree> m_;
};

// The reusable scratch of one thread's inference on a model; repeated calls
// with one batch size allocate nothing. The model must outlive the runner.
class Runner {
 public:
  explicit Runner(const Model& model) : output_size_(model.output_size()) {
    pcv_runner* r = nullptr;
    api_detail::check(pcv_runner_new(model.get(), &r));
    r_.reset(r);
  }

  void predict(const float* x, int64_t batch, float* out) {
    api_detail::check(pcv_runner_predict(r_.get(), x, batch, out));
  }
  std::vector<float> predict(const float* x, int64_t batch) {
    std::vector<float> out(api_detail::batch_floats(batch, output_size_));
    predict(x, batch, out.data());
    return out;
  }

  pcv_runner* get() const noexcept { return r_.get(); }

 private:
  int64_t output_size_;
  std::unique_ptr<pcv_runner, api_detail::RunnerFree> r_;
};

}  // namespace pyconv

#endif  // PYCONV_PYCONV_HPP

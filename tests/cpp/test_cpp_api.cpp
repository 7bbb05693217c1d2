// The header-only C++ API (pyconv.hpp) over the C API: a model built from
// layer lines is the C++ graph built from the same attributes; it trains,
// saves and loads with identical predictions; every failure is a
// pyconv::Error with the right status.
//
// The internal headers are included too, on purpose: if a name in pyconv.hpp
// ever collides with one of the library's own classes, this file stops compiling.
#include <pyconv/pyconv.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include <unistd.h>

#include "check.h"
#include "golden_model.h"
#include "graph/graph.h"
#include "io/model_file.h"

namespace {

using pyconv::test::read_npy;

const std::vector<std::string> kLayers = {
    "Conv2D filters=4 kernel_size=3 activation=relu", "MaxPooling2D pool_size=2", "Flatten",
    "Dropout rate=0.25", "Dense units=4 activation=softmax"};
const std::vector<int64_t> kShape = {8, 8, 1};
constexpr int64_t kPixels = 64;

// n random 8x8 images, each with one brighter quadrant: its index is the label.
struct Data {
  std::vector<float> x, y;
  int64_t n;
};
Data quadrant_data(int64_t n, uint32_t seed) {
  Data d{std::vector<float>(static_cast<size_t>(n * kPixels)), std::vector<float>(n), n};
  uint32_t s = seed;
  auto next = [&s] {
    s = s * 1664525u + 1013904223u;
    return s >> 8;
  };
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t label = next() % 4;
    d.y[i] = static_cast<float>(label);
    for (int p = 0; p < kPixels; ++p) {
      const bool bright = static_cast<uint32_t>((p / 32) * 2 + (p % 8) / 4) == label;
      d.x[i * kPixels + p] = 0.5f * static_cast<float>(next()) / (1u << 24) + (bright ? 0.4f : 0.f);
    }
  }
  return d;
}

pyconv::Model compiled_model(uint64_t seed = 7) {
  pyconv::Model m = pyconv::Model::create(kLayers, kShape, seed);
  m.compile("adam learning_rate=0.01", "sparse_categorical_crossentropy");
  return m;
}

std::string temp_path(const char* name) {
  return "/tmp/pcv_cpp_api_" + std::to_string(::getpid()) + "_" + name + ".pcv";
}

// The status of the Error that f throws (PCV_OK if it throws none).
template <class F>
pcv_status status_of(F&& f) {
  try {
    f();
  } catch (const pyconv::Error& e) {
    return e.status();
  }
  return PCV_OK;
}

TEST_CASE(test_lines_build_the_same_graph_as_attrs) {
  // The C++ graph from the attribute maps Python would send, same seed.
  using pyconv::Attrs;
  const std::vector<Attrs> attrs = {
      Attrs({{"type", std::string("Conv2D")}, {"filters", int64_t{4}},
             {"kernel_size", int64_t{3}}, {"activation", std::string("relu")}}),
      Attrs({{"type", std::string("MaxPooling2D")}, {"pool_size", int64_t{2}}}),
      Attrs({{"type", std::string("Flatten")}}),
      Attrs({{"type", std::string("Dropout")}, {"rate", 0.25}}),
      Attrs({{"type", std::string("Dense")}, {"units", int64_t{4}},
             {"activation", std::string("softmax")}})};
  pyconv::Graph g(attrs, pyconv::Shape{8, 8, 1}, 7);
  const Data d = quadrant_data(5, 1);
  pyconv::Tensor x = pyconv::Tensor::view(const_cast<float*>(d.x.data()), {5, 8, 8, 1});
  pyconv::Tensor want;
  g.predict(x, want);

  const pyconv::Model m = pyconv::Model::create(kLayers, kShape, 7);
  const std::vector<float> got = m.predict(d.x.data(), 5);
  CHECK(got == std::vector<float>(want.data(), want.data() + want.numel()));
  CHECK(m.input_shape() == kShape);
  CHECK(m.output_shape() == std::vector<int64_t>{4});
  CHECK(m.input_size() == kPixels && m.output_size() == 4);
}

TEST_CASE(test_train_save_load_identical) {
  const Data d = quadrant_data(64, 2);
  pyconv::Model m = compiled_model();
  CHECK(m.target_shape().empty());  // one label per sample
  const pyconv::Metrics first = m.train_step(d.x.data(), d.y.data(), d.n);
  pyconv::Metrics last{};
  for (int i = 0; i < 30; ++i) last = m.train_step(d.x.data(), d.y.data(), d.n);
  CHECK(last.loss < first.loss);

  const std::string path = temp_path("roundtrip");
  m.save(path);
  const pyconv::Model loaded = pyconv::Model::load(path);
  std::ifstream f(path, std::ios::binary);
  const std::vector<char> bytes{std::istreambuf_iterator<char>(f), {}};
  const pyconv::Model from_memory = pyconv::Model::load_memory(bytes.data(), bytes.size());
  std::remove(path.c_str());

  const std::vector<float> want = m.predict(d.x.data(), d.n);
  CHECK(loaded.predict(d.x.data(), d.n) == want);
  CHECK(from_memory.predict(d.x.data(), d.n) == want);
  CHECK(loaded.predict(d.x) == want);
  pyconv::Runner runner(loaded);
  CHECK(runner.predict(d.x.data(), d.n) == want);
  const pyconv::Metrics a = m.evaluate(d.x.data(), d.y.data(), d.n, 10);
  const pyconv::Metrics b = loaded.evaluate(d.x.data(), d.y.data(), d.n);
  CHECK(a.accuracy == b.accuracy);
  CHECK(std::abs(a.loss - b.loss) < 1e-6);
}

TEST_CASE(test_training_resumes_from_a_file_exactly) {
  // Optimizer slots and the step count (which keys dropout) are in the file.
  const Data d = quadrant_data(32, 3);
  pyconv::Model a = compiled_model();
  for (int i = 0; i < 3; ++i) a.train_step(d.x.data(), d.y.data(), d.n);
  const std::string path = temp_path("resume");
  a.save(path);
  pyconv::Model b = pyconv::Model::load(path);
  std::remove(path.c_str());
  for (int i = 0; i < 3; ++i) {
    a.train_step(d.x.data(), d.y.data(), d.n);
    b.train_step(d.x.data(), d.y.data(), d.n);
  }
  CHECK(a.predict(d.x.data(), d.n) == b.predict(d.x.data(), d.n));
}

TEST_CASE(test_fit_learns_and_its_seed_fixes_the_order) {
  const Data train = quadrant_data(256, 4), test = quadrant_data(128, 5);
  pyconv::Model a = compiled_model(), b = compiled_model(), c = compiled_model();
  int calls = 0;
  const auto history = a.fit(train.x.data(), train.y.data(), train.n, 30, 8, 11,
                             [&](int epoch, const pyconv::Metrics&) { CHECK(epoch == calls++); });
  CHECK(history.size() == 8 && calls == 8);
  CHECK(history.back().loss < history.front().loss);
  CHECK(a.evaluate(test.x.data(), test.y.data(), test.n).accuracy > 0.9);  // chance: 0.25
  b.fit(train.x.data(), train.y.data(), train.n, 30, 8, 11);
  c.fit(train.x.data(), train.y.data(), train.n, 30, 8, 12);
  CHECK(a.predict(test.x) == b.predict(test.x));
  CHECK(a.predict(test.x) != c.predict(test.x));
}

TEST_CASE(test_other_losses_and_optimizers) {
  pyconv::Model m = pyconv::Model::create({"Flatten", "Dense units=3"}, {2, 2}, 1);
  m.compile("SGD learning_rate=0.1 momentum=0.9 nesterov=true", "mse");
  CHECK(m.target_shape() == std::vector<int64_t>{3});
  const std::vector<float> x = {1, 2, 3, 4, 0, 1, 0, 1}, y = {1, 0, 0, 0, 1, 0};
  const double before = m.evaluate(x.data(), y.data(), 2).loss;
  for (int i = 0; i < 20; ++i) m.train_step(x.data(), y.data(), 2);
  CHECK(m.evaluate(x.data(), y.data(), 2).loss < before);
  m.compile("rmsprop", "categorical_crossentropy from_logits=true");
  CHECK(m.target_shape() == std::vector<int64_t>{3});
}

TEST_CASE(test_errors_are_pyconv_errors_with_a_status) {
  using pyconv::Model;
  // Malformed lines, unknown keys and types, impossible shapes.
  CHECK_THROWS(Model::create({"Flatten", "Dense units="}, {4}), pyconv::Error,
               "layer 1 \"Dense units=\": ");
  CHECK(status_of([] { Model::create({"Flatten", "Dense units="}, {4}); }) == PCV_ERR_ARGUMENT);
  CHECK_THROWS(Model::create({"Dense units=2 unitz=3"}, {4}), pyconv::Error, "unitz");
  CHECK_THROWS(Model::create({"Dense2 units=2"}, {4}), pyconv::Error, "unknown layer type");
  CHECK(status_of([] { Model::create({}, {4}); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([] { Model::create({"Flatten"}, {}); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([] { Model::create({"Flatten"}, {1, 2, 3, 4, 5, 6, 7, 8, 9}); }) ==
        PCV_ERR_ARGUMENT);
  CHECK(status_of([] { Model::create({"Flatten"}, {INT64_MAX, 4}); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([] { Model::create({"Flatten"}, {0, 4}); }) == PCV_ERR_SHAPE);
  CHECK(status_of([] { Model::create({"MaxPooling2D pool_size=9"}, {4, 4, 1}); }) != PCV_OK);

  // Compile: lines, then what the optimizers and losses accept.
  Model m = Model::create(kLayers, kShape, 1);
  CHECK(status_of([&] { m.compile("adam", "sparse_categorical_crossentropy from_logit=true"); }) ==
        PCV_ERR_ARGUMENT);
  CHECK_THROWS(m.compile("adam learning_rate=-1", "mse"), pyconv::Error, "learning_rate");
  CHECK_THROWS(m.compile("adam lr=0.1", "mse"), pyconv::Error, "unknown argument 'lr'");
  CHECK_THROWS(m.compile("", "mse"), pyconv::Error, "optimizer \"\": is empty");
  CHECK_THROWS(m.compile("ftrl", "mse"), pyconv::Error, "unknown optimizer");

  // Training before compile, bad labels, bad batch sizes.
  const Data d = quadrant_data(4, 6);
  CHECK(status_of([&] { m.train_step(d.x.data(), d.y.data(), 4); }) == PCV_ERR_STATE);
  CHECK(status_of([&] { m.target_shape(); }) == PCV_ERR_STATE);
  m.compile("adam", "sparse_categorical_crossentropy");
  const std::vector<float> before = m.predict(d.x.data(), 4);
  std::vector<float> bad_labels = d.y;
  bad_labels[2] = 4;  // 4 classes: 0..3
  CHECK_THROWS(m.train_step(d.x.data(), bad_labels.data(), 4), pyconv::Error, "labels in [0, 4)");
  CHECK(m.predict(d.x.data(), 4) == before);  // no weight changed
  CHECK(status_of([&] { m.train_step(d.x.data(), d.y.data(), 0); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([&] { m.train_step(nullptr, d.y.data(), 4); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([&] { m.fit(d.x.data(), d.y.data(), 4, 0); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([&] { m.fit(d.x.data(), d.y.data(), INT64_MAX / 2, 8); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([&] { m.evaluate(d.x.data(), d.y.data(), -1); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([&] { m.predict(std::vector<float>(kPixels + 1)); }) == PCV_ERR_SHAPE);
  CHECK(status_of([&] { m.predict(d.x.data(), -3); }) == PCV_ERR_ARGUMENT);
  // A batch of 0 is reported as such (it was "output must not be NULL").
  CHECK_THROWS(m.predict(d.x.data(), 0), pyconv::Error, "batch must be positive, received 0");
  pyconv::Runner zero_runner(m);
  CHECK_THROWS(zero_runner.predict(d.x.data(), 0), pyconv::Error, "batch must be positive");

  // Files.
  CHECK(status_of([] { Model::load("/nonexistent/model.pcv"); }) == PCV_ERR_IO);
  const char junk[] = "not a model file at all, just some bytes";
  CHECK(status_of([&] { Model::load_memory(junk, sizeof junk); }) == PCV_ERR_FORMAT);
  CHECK(status_of([&] { m.save("/nonexistent/dir/model.pcv"); }) == PCV_ERR_IO);

  // A moved-from model reports, never crashes.
  Model moved = std::move(m);
  CHECK(!m && moved);
  CHECK(status_of([&] { m.predict(d.x.data(), 4); }) == PCV_ERR_ARGUMENT);
  CHECK(status_of([&] { pyconv::Runner r(m); }) == PCV_ERR_ARGUMENT);
  CHECK(moved.predict(d.x.data(), 4) == before);
}

TEST_CASE(test_model_trained_in_python_loads) {
  // tests/data/make_golden_model.py: a Sequential trained and saved (model.save)
  // in Python, with its inputs and Python's predictions.
  const std::string dir = PCV_TEST_DATA;
  pyconv::Model m = pyconv::Model::load(dir + "/mnist_cnn_v1.pcv");
  CHECK(m.input_shape() == (std::vector<int64_t>{28, 28, 1}));
  const std::vector<float> x = read_npy(dir + "/mnist_cnn_v1_inputs.npy", 16 * 784);
  const std::vector<float> want = read_npy(dir + "/mnist_cnn_v1_outputs.npy", 16 * 10);
  const std::vector<float> got = m.predict(x);
  CHECK(got.size() == want.size());
  double worst = 0.0;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i)
    worst = std::max(worst, std::abs(double{got[i]} - want[i]) - 1e-5 * std::abs(want[i]));
  CHECK(worst <= 1e-6);
  // Python's compile (loss, optimizer and its state) came with it: training goes on.
  CHECK(m.target_shape().empty());
  const std::vector<float> labels(16, 3.0f);
  const pyconv::Metrics a = m.train_step(x.data(), labels.data(), 16);
  const pyconv::Metrics b = m.train_step(x.data(), labels.data(), 16);
  CHECK(b.loss < a.loss);
}

TEST_CASE(test_c_functions_take_null_without_crashing) {
  const char* lines[] = {"Flatten", nullptr};
  const int64_t shape[] = {2, 2};
  pcv_model* m = reinterpret_cast<pcv_model*>(&m);  // must be overwritten with NULL
  CHECK(pcv_model_create(lines, 2, shape, 2, 0, &m) == PCV_ERR_ARGUMENT && m == nullptr);
  CHECK(std::string(pcv_last_error()) == "layer 1 is NULL");
  CHECK(pcv_model_create(nullptr, 1, shape, 2, 0, &m) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_create(lines, 1, nullptr, 2, 0, &m) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_create(lines, 1, shape, 2, 0, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_compile(nullptr, "adam", "mse") == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_save(nullptr, "/tmp/x.pcv") == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_create(lines, 1, shape, 2, 0, &m) == PCV_OK);
  CHECK(pcv_model_compile(m, nullptr, "mse") == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_compile(m, "adam", nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_compile(m, "adam", "mse") == PCV_OK);
  const float x[4] = {1, 2, 3, 4};
  // loss and correct are optional; y must be there.
  CHECK(pcv_model_train_step(m, x, x, 1, nullptr, nullptr) == PCV_OK);
  CHECK(pcv_model_train_step(m, x, nullptr, 1, nullptr, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_evaluate(m, x, x, 1, nullptr, nullptr) == PCV_OK);
  CHECK(pcv_model_evaluate(nullptr, x, x, 1, nullptr, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(pcv_model_save(m, nullptr) == PCV_ERR_ARGUMENT);
  int64_t dims[PCV_MAX_RANK];
  int rank = -1;
  CHECK(pcv_model_target_shape(m, dims, &rank) == PCV_OK && rank == 1 && dims[0] == 4);
  CHECK(pcv_model_target_shape(m, nullptr, &rank) == PCV_ERR_ARGUMENT);
  pcv_model_free(m);
}

TEST_CASE(test_a_first_activation_that_checks_its_input_keeps_outputs_and_weights) {
  // An Activation that reads the model input checks it in its own loop
  // (Layer::checks_input_while_reading); through the C API, whose output is
  // the caller's, the graph scans first instead: a bad input writes nothing.
  const char* lines[] = {"Activation activation=relu", "Dense units=2"};
  const int64_t shape[] = {5};
  pcv_model* act = nullptr;  // the activation writes the model's output
  CHECK(pcv_model_create(lines, 1, shape, 1, 3, &act) == PCV_OK);
  std::vector<float> x(3 * 5, 1.0f), y(3 * 2, 0.0f), out(3 * 5, -7.0f);
  x[14] = NAN;
  CHECK(pcv_model_predict(act, x.data(), 3, out.data()) == PCV_ERR_ARGUMENT);
  CHECK(std::string(pcv_last_error()) == "expected finite input values, found nan at flat index 14");
  for (float v : out) CHECK(v == -7.0f);
  pcv_runner* r = nullptr;
  CHECK(pcv_runner_new(act, &r) == PCV_OK);
  CHECK(pcv_runner_predict(r, x.data(), 3, out.data()) == PCV_ERR_ARGUMENT);
  for (float v : out) CHECK(v == -7.0f);
  pcv_runner_free(r);
  pcv_model_free(act);
  // Training and evaluation: the layer's check, the same message, no step taken.
  pcv_model* m = nullptr;
  CHECK(pcv_model_create(lines, 2, shape, 1, 3, &m) == PCV_OK);
  CHECK(pcv_model_compile(m, "sgd", "mse") == PCV_OK);
  double before = 0.0, after = 0.0;
  x[14] = 1.0f;
  CHECK(pcv_model_evaluate(m, x.data(), y.data(), 3, &before, nullptr) == PCV_OK);
  x[14] = INFINITY;
  CHECK(pcv_model_train_step(m, x.data(), y.data(), 3, nullptr, nullptr) == PCV_ERR_ARGUMENT);
  CHECK(std::string(pcv_last_error()) == "expected finite input values, found inf at flat index 14");
  CHECK(pcv_model_evaluate(m, x.data(), y.data(), 3, nullptr, nullptr) == PCV_ERR_ARGUMENT);
  x[14] = 1.0f;
  CHECK(pcv_model_evaluate(m, x.data(), y.data(), 3, &after, nullptr) == PCV_OK);
  CHECK(after == before);
  CHECK(pcv_model_predict(m, x.data(), 3, out.data()) == PCV_OK);
  for (size_t i = 0; i < y.size(); ++i) CHECK(out[i] != -7.0f);
  pcv_model_free(m);
}

}  // namespace

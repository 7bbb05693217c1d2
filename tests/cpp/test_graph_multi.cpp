// Graph with several inputs and outputs, per-output loss weights, and a
// shared layer (one layer's weights used by two nodes): the C++ side of the
// functional API, run here under the sanitizers as well.
#include <algorithm>
#include <cmath>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "graph/graph.h"
#include "io/model_file.h"

using pyconv::Attrs;
using pyconv::Batch;
using pyconv::Graph;
using pyconv::NodeSpec;
using pyconv::Tensor;

namespace {
Attrs dense(const char* name, int64_t units, const char* activation = "linear") {
  Attrs a;
  a.set("type", std::string("Dense"));
  a.set("name", std::string(name));
  a.set("units", units);
  a.set("activation", std::string(activation));
  return a;
}

Attrs merge(const char* type, const char* name) {
  Attrs a;
  a.set("type", std::string(type));
  a.set("name", std::string(name));
  return a;
}

Attrs loss(const char* type) {
  Attrs a;
  a.set("type", std::string(type));
  return a;
}

// Inputs a, b (4 values each); enc = Dense(3) called on both; out0 =
// Dense(2, softmax)(enc(a) - enc(b)); out1 = Dense(1)(enc(b)).
Graph siamese() {
  std::vector<NodeSpec> nodes = {
      {dense("enc", 3, "tanh"), {-1}},
      {dense("enc", 3, "tanh"), {-2}},  // the same layer again
      {merge("Subtract", "diff"), {0, 1}},
      {dense("cls", 2, "softmax"), {2}},
      {dense("reg", 1), {1}},
  };
  return Graph(nodes, {{4}, {4}}, {3, 4}, 7);
}

Tensor filled(pyconv::Shape shape, float start, float step) {
  Tensor t(shape);
  for (int64_t i = 0; i < t.numel(); ++i) t.data()[i] = start + step * static_cast<float>(i % 7);
  return t;
}
}  // namespace

TEST_CASE(test_shared_layer_owns_one_set_of_weights) {
  Graph g = siamese();
  CHECK(g.layer_owner(1) == 0);
  CHECK(&g.layer(1) == &g.layer(0));
  CHECK(g.params().size() == 6);  // enc, cls, reg: kernel and bias each
  CHECK(g.outputs().size() == 2);
  CHECK(g.output_shape(1) == pyconv::Shape{1});
}

TEST_CASE(test_weighted_losses_add_up_and_training_lowers_them) {
  Graph g = siamese();
  Attrs opt;
  opt.set("type", std::string("sgd"));
  opt.set("learning_rate", 0.2);
  g.compile(pyconv::pack_output_losses({loss("sparse_categorical_crossentropy"), loss("mse")},
                                       {0.5, 2.0}),
            opt);
  Tensor a = filled({6, 4}, -0.5f, 0.2f), b = filled({6, 4}, 0.4f, -0.15f);
  Tensor labels({6}), values = filled({6, 1}, 0.3f, 0.1f);
  for (int i = 0; i < 6; ++i) labels.data()[i] = static_cast<float>(i % 2);
  const Batch xs = {&a, &b}, ys = {&labels, &values};
  const pyconv::StepResult first = g.test_step(xs, ys);
  CHECK(first.output_losses.size() == 2);
  CHECK(std::fabs(first.loss - (0.5 * first.output_losses[0] + 2.0 * first.output_losses[1])) <
        1e-6);
  for (int i = 0; i < 30; ++i) g.train_step(xs, ys);
  CHECK(g.test_step(xs, ys).loss < first.loss);
  // Saved and loaded: the same outputs, the shared layer still shared.
  const std::vector<uint8_t> bytes = pyconv::save_model_bytes(g);
  std::unique_ptr<Graph> again = pyconv::load_model_memory(bytes.data(), bytes.size());
  CHECK(again->layer_owner(1) == 0);
  Tensor o0({6, 2}), o1({6, 1}), p0({6, 2}), p1({6, 1});
  g.predict(xs, {&o0, &o1});
  again->predict(xs, {&p0, &p1});
  for (int64_t i = 0; i < o0.numel(); ++i) CHECK(o0.data()[i] == p0.data()[i]);
  for (int64_t i = 0; i < o1.numel(); ++i) CHECK(o1.data()[i] == p1.data()[i]);
}

TEST_CASE(test_bad_graphs_and_batches_are_refused) {
  std::vector<NodeSpec> unused_input = {{dense("d", 2), {-1}}};
  auto unused = [&] { Graph(unused_input, {{4}, {4}}, {0}, 1); };
  CHECK_THROWS(unused(), pyconv::ValueError, "disconnected input");
  std::vector<NodeSpec> other_shape = {{dense("d", 2), {-1}}, {dense("d", 2), {-2}}};
  auto reshaped = [&] { Graph(other_shape, {{4}, {5}}, {1}, 1); };
  CHECK_THROWS(reshaped(), pyconv::ShapeError, "same shapes");
  std::vector<NodeSpec> clash = {{dense("d", 2), {-1}}, {dense("d", 3), {0}}};
  auto clashing = [&] { Graph(clash, {{4}}, {1}, 1); };
  CHECK_THROWS(clashing(), pyconv::ValueError, "different arguments");
  auto twice = [&] { Graph(unused_input, {{4}}, {0, 0}, 1); };
  CHECK_THROWS(twice(), pyconv::ValueError, "output twice");
  Graph g = siamese();
  Tensor a({3, 4}), b({2, 4});  // zeros: the shapes are what is wrong, not the values
  std::fill(a.data(), a.data() + a.numel(), 0.f);
  std::fill(b.data(), b.data() + b.numel(), 0.f);
  Tensor out0({3, 2}), out1({3, 1});
  auto uneven = [&] { g.predict(Batch{&a, &b}, {&out0, &out1}); };
  CHECK_THROWS(uneven(), pyconv::ShapeError, "same number of samples");
  auto one_input = [&] { g.predict(Batch{&a}, {&out0, &out1}); };
  CHECK_THROWS(one_input(), pyconv::ValueError, "2 input array(s)");
  auto one_output = [&] { g.predict(a, out0); };
  CHECK_THROWS(one_output(), pyconv::ValueError, "2 outputs");
}

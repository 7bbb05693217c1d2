// The training step's pool fusion (ops/conv_pool.h: a MaxPooling2D run
// inside the Conv2D before it, a chunk of samples at a time) against the same
// network run apart, with enough samples for several chunks and groups and
// two threads: run here under the sanitizers as well.
#include <algorithm>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "graph/graph.h"

using pyconv::Attrs;
using pyconv::Graph;
using pyconv::Tensor;

namespace {

Attrs layer(const std::string& type, std::vector<std::pair<std::string, pyconv::AttrValue>> kv) {
  Attrs a;
  a.set("type", type);
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

Attrs conv(int64_t filters, const char* activation) {
  return layer("Conv2D", {{"filters", filters}, {"kernel_size", int64_t{3}},
                          {"activation", std::string(activation)}});
}

// input -> [conv -> Activation(linear)?] -> pool -> ... -> Dense(10, softmax):
// with `apart`, the linear activation keeps the pooling out of the convolution.
std::unique_ptr<Graph> network(const pyconv::Shape& input, const std::vector<Attrs>& convs,
                               bool apart) {
  std::vector<Attrs> layers;
  for (const Attrs& c : convs) {
    layers.push_back(c);
    if (apart) layers.push_back(layer("Activation", {{"activation", std::string("linear")}}));
    layers.push_back(layer("MaxPooling2D", {{"pool_size", int64_t{2}}}));
  }
  layers.push_back(layer("Flatten", {}));
  layers.push_back(layer("Dense", {{"units", int64_t{10}}, {"activation", std::string("softmax")}}));
  auto g = std::make_unique<Graph>(layers, input, 3);
  g->compile(layer("sparse_categorical_crossentropy", {}),
             layer("sgd", {{"learning_rate", 0.05}}));
  g->set_num_threads(2);
  return g;
}

// Trains both on the same batch and compares every weight after each step.
void check_same_steps(const pyconv::Shape& input, const std::vector<Attrs>& convs, int64_t batch) {
  const auto fused_graph = network(input, convs, false), apart_graph = network(input, convs, true);
  Graph &fused = *fused_graph, &apart = *apart_graph;
  CHECK(fused.pool_fusions().size() == convs.size());
  CHECK(apart.pool_fusions().empty());
  pyconv::Shape shape = input;
  shape.insert(shape.begin(), batch);
  Tensor x(shape), y({batch});
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = std::sin(0.37f * static_cast<float>(i));
  for (int64_t i = 0; i < batch; ++i) y.data()[i] = static_cast<float>(i % 10);
  CHECK(fused.params().size() == apart.params().size());
  for (int step = 0; step < 2; ++step) {
    const double lf = fused.train_step(x, y).loss, la = apart.train_step(x, y).loss;
    CHECK(std::fabs(lf - la) <= 1e-5 * std::fabs(la));
    for (size_t p = 0; p < fused.params().size(); ++p) {
      const Tensor &a = fused.params()[p]->value, &b = apart.params()[p]->value;
      float worst = 0.f, scale = 0.f;
      for (int64_t i = 0; i < a.numel(); ++i) {
        worst = std::max(worst, std::fabs(a.data()[i] - b.data()[i]));
        scale = std::max(scale, std::fabs(b.data()[i]));
      }
      CHECK(worst <= 1e-4f * scale + 1e-6f);
    }
  }
}

}  // namespace

TEST_CASE(test_first_layer_over_many_chunks) {
  // 26x26x32 outputs (86 KB a sample): two samples a chunk, 19 samples make
  // ten chunks in eight groups, the last chunk part-filled.
  check_same_steps({28, 28, 1}, {conv(32, "relu")}, 19);
}

TEST_CASE(test_second_layer_through_winograd_passes_its_input_gradient) {
  // The second convolution (3x3, 16 channels to 16) runs through Winograd:
  // its kernel gradient is summed in Winograd's form over the chunks.
  check_same_steps({30, 30, 2}, {conv(16, "tanh"), conv(16, "relu")}, 11);
}

TEST_CASE(test_one_large_image_takes_every_thread) {
  check_same_steps({70, 70, 1}, {conv(16, "sigmoid")}, 1);
}

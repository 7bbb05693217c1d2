// Batch-1 float inference in bands of rows (Graph::find_row_ops,
// core/row_bands.h) against the same model on one thread, which runs every
// node whole: random chains of convolutions (strided, dilated, padded,
// grouped, with every kind of activation), poolings and activations, a
// dense layer after some, must give the same bytes on 2, 3 and 4 threads.
// Chains big enough for two threads to pay (core/threads.h's cut-off) run
// in bands: the test draws chains until 200 have. Run here under the
// sanitizers as well.
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "check.h"
#include "core/error.h"
#include "graph/graph.h"
#include "kernels/dispatch.h"

using pyconv::Attrs;
using pyconv::AttrValue;
using pyconv::Graph;
using pyconv::Tensor;

namespace {

Attrs layer(const std::string& type, std::vector<std::pair<std::string, AttrValue>> kv) {
  Attrs a;
  a.set("type", type);
  for (auto& [k, v] : kv) a.set(k, v);
  return a;
}

struct Chain {
  pyconv::Shape input;
  std::vector<Attrs> layers;
};

Chain random_chain(std::mt19937& rng) {
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* activations[] = {"linear", "relu", "tanh", "sigmoid", "gelu", "swish", "softmax"};
  auto activation = [&] { return std::string(activations[pick(0, 6)]); };
  Chain c;
  c.input = {pick(24, 64), pick(16, 48), pick(1, 9)};
  int64_t channels = c.input[2];
  const int64_t count = pick(1, 5);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t kind = pick(0, 5);
    if (kind <= 2) {  // a convolution, most often
      const int64_t groups = channels % 2 == 0 && pick(0, 3) == 0 ? 2 : 1;
      const int64_t filters = groups * pick(4, 16);
      const int64_t stride = pick(1, 3), dilation = stride == 1 ? pick(1, 2) : 1;
      AttrValue padding = std::string(pick(0, 1) ? "same" : "valid");
      // Explicit padding up to 6 rows: windows of padding alone where the kernel is smaller.
      if (pick(0, 3) == 0) padding = std::vector<int64_t>{pick(0, 6), pick(0, 6), pick(0, 2), pick(0, 2)};
      // Sometimes Winograd's (3x3, 16 channels and filters): the bands end before it.
      const bool winograd = channels >= 16 && pick(0, 1);
      c.layers.push_back(layer(
          "Conv2D", {{"filters", winograd ? int64_t{16} : filters},
                     {"kernel_size", std::vector<int64_t>{winograd ? 3 : pick(1, 5), winograd ? 3 : pick(1, 5)}},
                     {"strides", winograd ? int64_t{1} : stride},
                     {"dilation_rate", winograd ? int64_t{1} : dilation},
                     {"padding", padding}, {"groups", winograd ? int64_t{1} : groups},
                     {"activation", activation()}, {"use_bias", pick(0, 3) != 0},
                     {"bias_initializer", std::string("random_normal")}}));
      channels = winograd ? 16 : filters;
    } else if (kind <= 4) {
      c.layers.push_back(layer(pick(0, 1) ? "MaxPooling2D" : "AveragePooling2D",
                               {{"pool_size", pick(1, 3)}, {"strides", pick(1, 3)},
                                {"padding", std::string(pick(0, 1) ? "same" : "valid")}}));
    } else {
      c.layers.push_back(layer("Activation", {{"activation", activation()}}));
    }
  }
  if (pick(0, 1)) {
    c.layers.push_back(layer("Flatten", {}));
    c.layers.push_back(layer("Dense", {{"units", pick(1, 12)}, {"activation", std::string("relu")}}));
  }
  return c;
}

// Whether g gives x's bytes of one thread on 2, 3 and 4; whether any of them ran in bands.
bool same_bytes_on_more_threads(Graph& g, const Tensor& x) {
  Tensor one, many;
  g.set_num_threads(1);
  g.predict(x, one);
  bool any = false;
  for (int threads = 2; threads <= 4; ++threads) {
    any = any || g.row_bands(threads);
    g.set_num_threads(threads);
    // A fresh context runs its first calls on every thread (core/team_choice.h).
    const auto context = g.new_context();
    g.predict(x, many, *context);
    CHECK(many.shape() == one.shape());
    CHECK(std::memcmp(many.data(), one.data(), sizeof(float) * static_cast<size_t>(one.numel())) == 0);
  }
  return any;
}

Tensor wavy_input(const pyconv::Shape& sample) {
  pyconv::Shape shape = sample;
  shape.insert(shape.begin(), 1);
  Tensor x(shape);
  for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = std::sin(0.37f * static_cast<float>(i));
  return x;
}

}  // namespace

TEST_CASE(bands_give_the_bytes_of_one_thread) {
  for (const std::string& isa : pyconv::kernels::available_isas()) {
    pyconv::kernels::select_isa(isa);
    std::mt19937 rng(7);
    std::normal_distribution<float> normal(0.f, 1.f);
    int cases = 0, banded = 0;
    while (banded < 200 && cases < 3000) {
      const Chain chain = random_chain(rng);
      std::unique_ptr<Graph> g;
      try {
        g = std::make_unique<Graph>(chain.layers, chain.input, static_cast<uint64_t>(cases));
      } catch (const std::invalid_argument&) {
        continue;  // a window larger than its input: draw another chain
      }
      ++cases;
      pyconv::Shape shape = chain.input;
      shape.insert(shape.begin(), 1);
      Tensor x(shape);
      for (int64_t i = 0; i < x.numel(); ++i) x.data()[i] = normal(rng);
      banded += same_bytes_on_more_threads(*g, x);
    }
    std::printf("  %s: %d of %d chains ran in bands\n", isa.c_str(), banded, cases);
    CHECK(banded == 200);
  }
  pyconv::kernels::select_isa(pyconv::kernels::available_isas().back());
}

// Layers whose products pass the GEMM's depth block (a first layer of 11x11
// taps on 3 channels: 363), with a bias: a band's last tile of output pixels
// is often a part one where the whole input's is whole, and part tiles must
// round as whole ones do. And 1x1 convolutions over many channels, padded or
// not, which one GEMM over the pixels computes (blocked by their count):
// those end the bands.
TEST_CASE(deep_products_and_pointwise_layers_keep_their_bytes) {
  auto conv = [](int64_t filters, int64_t k, AttrValue padding) {
    return layer("Conv2D", {{"filters", filters}, {"kernel_size", k}, {"padding", padding},
                            {"activation", std::string("relu")},
                            {"bias_initializer", std::string("random_normal")}});
  };
  const std::vector<std::pair<pyconv::Shape, std::vector<Attrs>>> models = {
      {{45, 37, 3}, {conv(16, 11, std::string("same")), conv(8, 3, std::string("valid"))}},
      {{14, 13, 384}, {conv(32, 1, std::string("valid")), conv(8, 3, std::string("valid"))}},
      {{14, 13, 384}, {conv(32, 1, std::vector<int64_t>{1, 1, 0, 0}), conv(8, 3, std::string("valid"))}},
  };
  for (const std::string& isa : pyconv::kernels::available_isas()) {
    pyconv::kernels::select_isa(isa);
    for (const auto& [input, layers] : models) {
      Graph g(layers, input, 3);
      same_bytes_on_more_threads(g, wavy_input(input));
    }
  }
  pyconv::kernels::select_isa(pyconv::kernels::available_isas().back());
}

// Explicit padding as large as the window: the first (or last) output rows
// read padding alone. No band may be cropped to no rows.
TEST_CASE(rows_of_padding_alone) {
  auto conv = [](std::vector<int64_t> kernel, std::vector<int64_t> padding) {
    return layer("Conv2D", {{"filters", int64_t{24}}, {"kernel_size", kernel}, {"padding", padding}});
  };
  // The first and last 12 of 34 rows (1 x 3 windows) and the first 4 of 49 read padding alone.
  const std::vector<std::pair<pyconv::Shape, std::vector<Attrs>>> models = {
      {{10, 40, 8}, {conv({1, 3}, {12, 12, 1, 1})}},
      {{40, 30, 8}, {conv({3, 3}, {6, 5, 1, 1}), conv({3, 3}, {4, 4, 1, 1})}}};
  for (const auto& [input, layers] : models) {
    Graph g(layers, input, 4);
    same_bytes_on_more_threads(g, wavy_input(input));
  }
}

// LeNet-5's layers: the bands end at its second convolution, 5 and 5 of its
// 10 rows on two threads (its 28 rows of the first convolution computed 18
// and 18: 8 where the bands' windows overlap).
TEST_CASE(lenet5_splits_at_its_second_convolution) {
  const std::vector<Attrs> layers = {
      layer("Conv2D", {{"filters", int64_t{6}}, {"kernel_size", int64_t{5}},
                       {"padding", std::string("same")}, {"activation", std::string("relu")}}),
      layer("AveragePooling2D", {{"pool_size", int64_t{2}}}),
      layer("Conv2D", {{"filters", int64_t{16}}, {"kernel_size", int64_t{5}},
                       {"activation", std::string("relu")}}),
      layer("AveragePooling2D", {{"pool_size", int64_t{2}}}),
      layer("Flatten", {}),
      layer("Dense", {{"units", int64_t{120}}, {"activation", std::string("relu")}}),
      layer("Dense", {{"units", int64_t{10}}, {"activation", std::string("softmax")}})};
  const Graph g(layers, {28, 28, 1}, 1);
  CHECK(g.row_bands(1) == nullptr);
  const pyconv::RowBands* b = g.row_bands(2);
  CHECK(b != nullptr);
  if (!b) return;
  CHECK(b->end == 3);
  CHECK(b->bands.size() == 2);
  for (const pyconv::RowBand& band : b->bands) {
    CHECK(band.ops[2].out_h == 5);
    CHECK(band.ops[0].out_h == 18);
  }
  CHECK(b->bands[1].output_offset == 5 * 10 * 16 * 4);
}

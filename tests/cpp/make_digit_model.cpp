// Test fixture for .ci/cpp_package.sh until examples/embed_cpp exists: trains
// a small CNN on MNIST IDX files with the C++ graph and saves it as .pcv.
//   make_digit_model IMAGES LABELS OUT.pcv   (the first 8,000 digits, 2 epochs)
#include <cstdio>
#include <cstring>

#include "graph/graph.h"
#include "input.h"
#include "io/model_file.h"

using namespace pyconv;

static Attrs attrs(std::map<std::string, AttrValue> v) { return Attrs(std::move(v)); }

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: make_digit_model IMAGES LABELS OUT.pcv\n");
    return 2;
  }
  try {
    const pcvrun::Array x = pcvrun::read_input({argv[1]}), y = pcvrun::read_input({argv[2]});
    const int64_t n = std::min<int64_t>(8000, x.shape.at(0)), batch = 64;
    Graph g({attrs({{"type", std::string("Conv2D")}, {"filters", int64_t{8}}, {"kernel_size", int64_t{3}},
                    {"activation", std::string("relu")}}),
             attrs({{"type", std::string("MaxPooling2D")}}), attrs({{"type", std::string("Flatten")}}),
             attrs({{"type", std::string("Dense")}, {"units", int64_t{10}},
                    {"activation", std::string("softmax")}})},
            Shape{28, 28, 1}, 7);
    g.compile(attrs({{"type", std::string("sparse_categorical_crossentropy")}}),
              attrs({{"type", std::string("adam")}}));
    Tensor xb(Shape{batch, 28, 28, 1}), yb(Shape{batch});
    for (int epoch = 0; epoch < 2; ++epoch)
      for (int64_t i = 0; i + batch <= n; i += batch) {
        for (int64_t k = 0; k < batch * 784; ++k) xb.data()[k] = x.data[i * 784 + k] / 255.0f;
        std::memcpy(yb.data(), &y.data[i], sizeof(float) * batch);
        g.train_step(xb, yb);
      }
    save_model_file(g, argv[3]);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_digit_model: %s\n", e.what());
    return 1;
  }
  return 0;
}

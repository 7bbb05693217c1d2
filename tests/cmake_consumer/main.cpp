// The C++ header from the installed package: builds, trains and runs a tiny
// model, and checks that a failure arrives as pyconv::Error with its status.
#include <pyconv/pyconv.hpp>

#include <cstdio>
#include <vector>

int main() {
  try {
    pyconv::Model m = pyconv::Model::create({"Flatten", "Dense units=2 activation=softmax"}, {2, 2});
    m.compile("sgd learning_rate=0.5", "sparse_categorical_crossentropy");
    const std::vector<float> x = {1, 0, 0, 0, 0, 0, 0, 1}, y = {0, 1};
    m.fit(x.data(), y.data(), 2, 2, 20);
    std::printf("C++ API: accuracy %.2f after training\n", m.evaluate(x.data(), y.data(), 2).accuracy);
  } catch (const pyconv::Error& e) {
    std::fprintf(stderr, "unexpected error: %s\n", e.what());
    return 1;
  }
  try {
    pyconv::Model::create({"Dense units=oops="}, {4});
  } catch (const pyconv::Error& e) {
    if (e.status() != PCV_ERR_ARGUMENT) return 1;
    std::printf("bad layer line: %s: %s\n", pcv_status_string(e.status()), e.what());
    return 0;
  }
  std::fprintf(stderr, "a bad layer line was accepted\n");
  return 1;
}

// A runtime-only build (-DPYCONV_RUNTIME_ONLY=ON): a model trained and saved
// in Python, loss and optimizer state included, loads and predicts as Python
// did, and every training call is refused with a status that says why.
#include <pyconv/pyconv.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "check.h"
#include "golden_model.h"

namespace {

using pyconv::test::golden_path;
using pyconv::test::read_npy;

TEST_CASE(test_trained_model_predicts_as_in_python) {
  pcv_model* m = nullptr;
  CHECK(pcv_model_load(golden_path("mnist_cnn_v1.pcv").c_str(), &m) == PCV_OK);
  if (!m) return;
  const std::vector<float> x = read_npy(golden_path("mnist_cnn_v1_inputs.npy"), 16 * 784);
  const std::vector<float> want = read_npy(golden_path("mnist_cnn_v1_outputs.npy"), 16 * 10);
  std::vector<float> got(want.size());
  CHECK(pcv_model_predict(m, x.data(), 16, got.data()) == PCV_OK);
  double worst = 0.0;
  for (size_t i = 0; i < got.size(); ++i)
    worst = std::max(worst, std::abs(double{got[i]} - want[i]) - 1e-5 * std::abs(want[i]));
  CHECK(worst <= 1e-6);
  pcv_model_free(m);
}

TEST_CASE(test_training_is_refused) {
  const char* layers[] = {"Flatten", "Dense units=3"};
  const int64_t shape[] = {2, 2};
  pcv_model* m = nullptr;
  CHECK(pcv_model_create(layers, 2, shape, 2, 0, &m) == PCV_OK);
  if (!m) return;
  CHECK(pcv_model_compile(m, "adam", "mean_squared_error") == PCV_ERR_STATE);
  CHECK(std::string(pcv_last_error()).find("runtime-only build") != std::string::npos);
  const std::vector<float> x(8, 0.5f), y(6, 1.0f);
  CHECK(pcv_model_train_step(m, x.data(), y.data(), 2, nullptr, nullptr) == PCV_ERR_STATE);
  std::vector<float> out(6);
  CHECK(pcv_model_predict(m, x.data(), 2, out.data()) == PCV_OK);  // inference still works
  pcv_model_free(m);
}

}  // namespace

#include "ops/activation.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/threads.h"

namespace pyconv::ops {

Activation parse_activation(const std::string& name, const std::string& who) {
  if (name == "linear" || name == "none" || name.empty()) return Activation::Linear;
  if (name == "relu") return Activation::Relu;
  if (name == "tanh") return Activation::Tanh;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "softmax") return Activation::Softmax;
  throw ValueError(cat(who, ": unknown activation '", name,
                       "'; expected one of 'linear', 'relu', 'tanh', 'sigmoid', 'softmax'"));
}

const char* activation_name(Activation a) {
  switch (a) {
    case Activation::Linear: return "linear";
    case Activation::Relu: return "relu";
    case Activation::Tanh: return "tanh";
    case Activation::Sigmoid: return "sigmoid";
    case Activation::Softmax: return "softmax";
  }
  return "?";
}

namespace {

void softmax_row(float* y, int64_t n) {
  float m = y[0];
  for (int64_t i = 1; i < n; ++i) m = std::max(m, y[i]);
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += (y[i] = std::exp(y[i] - m));
  const float inv = 1.f / s;
  for (int64_t i = 0; i < n; ++i) y[i] *= inv;
}

// Softmax's Jacobian-vector product: dx = y * (dy - sum(dy * y)).
void softmax_row_backward(const float* y, float* dy, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += dy[i] * y[i];
  for (int64_t i = 0; i < n; ++i) dy[i] = y[i] * (dy[i] - s);
}

inline float sigmoid(float v) {
  // Split by sign so exp never overflows.
  if (v >= 0) return 1.f / (1.f + std::exp(-v));
  const float e = std::exp(v);
  return e / (1.f + e);
}

}  // namespace

void activation_forward(Activation a, float* y, int64_t rows, int64_t cols, int threads) {
  const int64_t n = rows * cols;
  const bool par = threads > 1 && n > 65536;
  switch (a) {
    case Activation::Linear: return;
    case Activation::Relu:
      if (par) {
#pragma omp parallel for simd num_threads(threads)
        for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.f ? y[i] : 0.f;
      } else {
#pragma omp simd
        for (int64_t i = 0; i < n; ++i) y[i] = y[i] > 0.f ? y[i] : 0.f;
      }
      return;
    case Activation::Tanh:
      parallel_for(par ? threads : 1, n, [&](int64_t i) { y[i] = std::tanh(y[i]); });
      return;
    case Activation::Sigmoid:
      parallel_for(par ? threads : 1, n, [&](int64_t i) { y[i] = sigmoid(y[i]); });
      return;
    case Activation::Softmax:
      parallel_for(par ? threads : 1, rows, [&](int64_t r) { softmax_row(y + r * cols, cols); });
      return;
  }
}

void activation_backward(Activation a, const float* y, float* dy, int64_t rows, int64_t cols,
                         int threads) {
  const int64_t n = rows * cols;
  const bool par = threads > 1 && n > 65536;
  switch (a) {
    case Activation::Linear: return;
    case Activation::Relu:
#pragma omp parallel for simd num_threads(threads) if (parallel: par)
      for (int64_t i = 0; i < n; ++i) dy[i] = y[i] > 0.f ? dy[i] : 0.f;
      return;
    case Activation::Tanh:
#pragma omp parallel for simd num_threads(threads) if (parallel: par)
      for (int64_t i = 0; i < n; ++i) dy[i] *= 1.f - y[i] * y[i];
      return;
    case Activation::Sigmoid:
#pragma omp parallel for simd num_threads(threads) if (parallel: par)
      for (int64_t i = 0; i < n; ++i) dy[i] *= y[i] * (1.f - y[i]);
      return;
    case Activation::Softmax:
#pragma omp parallel for num_threads(threads) if (par)
      for (int64_t r = 0; r < rows; ++r) softmax_row_backward(y + r * cols, dy + r * cols, cols);
      return;
  }
}

}  // namespace pyconv::ops

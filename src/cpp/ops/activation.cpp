#include "ops/activation.h"

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "core/error.h"
#include "core/threads.h"
#include "ops/vmath.h"

namespace pyconv::ops {

namespace {
struct Named {
  const char* name;
  Activation a;
};
// Keras's names ("silu" is "swish"; leaky_relu's slope is Keras's 0.2).
constexpr Named kNames[] = {
    {"linear", Activation::Linear},   {"relu", Activation::Relu},
    {"tanh", Activation::Tanh},       {"sigmoid", Activation::Sigmoid},
    {"softmax", Activation::Softmax}, {"elu", Activation::Elu},
    {"selu", Activation::Selu},       {"softplus", Activation::Softplus},
    {"relu6", Activation::Relu6},     {"hard_sigmoid", Activation::HardSigmoid},
    {"leaky_relu", Activation::LeakyRelu}, {"gelu", Activation::Gelu},
    {"swish", Activation::Swish},     {"silu", Activation::Swish},
};
}  // namespace

Activation parse_activation(const std::string& name, const std::string& who) {
  if (name == "none" || name.empty()) return Activation::Linear;
  for (const Named& n : kNames)
    if (name == n.name) return n.a;
  std::string known;
  for (const Named& n : kNames) known += cat(known.empty() ? "'" : ", '", n.name, "'");
  throw ValueError(cat(who, ": unknown activation '", name, "'; expected one of ", known));
}

const char* activation_name(Activation a) {
  for (const Named& n : kNames)
    if (n.a == a) return n.name;
  return "?";
}

bool needs_input(Activation a) { return a == Activation::Gelu || a == Activation::Swish; }

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

inline float sigmoid(float v) { return sigmoid_vec(v); }

constexpr float kSeluAlpha = 1.6732632423543772f, kSeluScale = 1.0507009873554805f;
constexpr float kLeakySlope = 0.2f;

inline float elu(float v) { return v > 0.f ? v : std::expm1(v); }
inline float softplus(float v) {  // log(1 + e^v) without overflow
  return v > 0.f ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v));
}
inline float gelu(float v) { return 0.5f * v * (1.f + std::erf(v * 0.70710678f)); }
inline float gelu_grad(float v) {
  return 0.5f * (1.f + std::erf(v * 0.70710678f)) + v * 0.39894228f * std::exp(-0.5f * v * v);
}

// The element-wise forms (everything but softmax).
inline float apply(Activation a, float v) {
  switch (a) {
    case Activation::Tanh: return tanh_vec(v);
    case Activation::Sigmoid: return sigmoid(v);
    case Activation::Elu: return elu(v);
    case Activation::Selu: return kSeluScale * (v > 0.f ? v : kSeluAlpha * std::expm1(v));
    case Activation::Softplus: return softplus(v);
    case Activation::Relu6: return std::min(std::max(v, 0.f), 6.f);
    case Activation::HardSigmoid: return std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case Activation::LeakyRelu: return v > 0.f ? v : kLeakySlope * v;
    case Activation::Gelu: return gelu(v);
    case Activation::Swish: return v * sigmoid(v);
    default: return v;
  }
}

// d act / d x at output y (and input x where the activation needs it).
inline float derivative(Activation a, float y, float x) {
  switch (a) {
    case Activation::Tanh: return 1.f - y * y;
    case Activation::Sigmoid: return y * (1.f - y);
    case Activation::Elu: return y > 0.f ? 1.f : y + 1.f;
    case Activation::Selu: return y > 0.f ? kSeluScale : y + kSeluScale * kSeluAlpha;
    case Activation::Softplus: return -std::expm1(-y);  // sigmoid(x) = 1 - e^-y
    case Activation::Relu6: return y > 0.f && y < 6.f ? 1.f : 0.f;
    case Activation::HardSigmoid: return y > 0.f && y < 1.f ? 1.f / 6.f : 0.f;
    case Activation::LeakyRelu: return y > 0.f ? 1.f : kLeakySlope;
    case Activation::Gelu: return gelu_grad(x);
    case Activation::Swish: {
      const float s = sigmoid(x);
      return s * (1.f + x * (1.f - s));
    }
    default: return 1.f;
  }
}

// Calls fn with the activation as a compile-time constant, so that the
// element loops below are compiled once per activation, without a switch per
// element (and vectorised where the activation's math allows).
template <class Fn>
void with_elementwise(Activation a, Fn fn) {
  using A = Activation;
  switch (a) {
    case A::Tanh: return fn(std::integral_constant<A, A::Tanh>());
    case A::Sigmoid: return fn(std::integral_constant<A, A::Sigmoid>());
    case A::Elu: return fn(std::integral_constant<A, A::Elu>());
    case A::Selu: return fn(std::integral_constant<A, A::Selu>());
    case A::Softplus: return fn(std::integral_constant<A, A::Softplus>());
    case A::Relu6: return fn(std::integral_constant<A, A::Relu6>());
    case A::HardSigmoid: return fn(std::integral_constant<A, A::HardSigmoid>());
    case A::LeakyRelu: return fn(std::integral_constant<A, A::LeakyRelu>());
    case A::Gelu: return fn(std::integral_constant<A, A::Gelu>());
    case A::Swish: return fn(std::integral_constant<A, A::Swish>());
    default: throw StateError(cat("activation '", activation_name(a), "' is not element-wise"));
  }
}

// body(lo, hi) over [0, n) in blocks, on `threads` threads when par.
template <class Body>
void in_blocks(int64_t n, bool par, int threads, Body body) {
  constexpr int64_t kBlock = 8192;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  parallel_for(par ? threads : 1, blocks,
               [&](int64_t b) { body(b * kBlock, std::min(n, (b + 1) * kBlock)); });
}

template <Activation A>
void forward_block(const float* x, float* y, int64_t lo, int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) y[i] = apply(A, x[i]);
}

// x: the activation's input (any array of the size when it does not need it).
template <Activation A>
void backward_block(const float* y, const float* dy, float* dx, const float* x, int64_t lo,
                    int64_t hi) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) dx[i] = dy[i] * derivative(A, y[i], x[i]);
}

}  // namespace

void activation_forward(Activation a, float* y, int64_t rows, int64_t cols, int threads) {
  activation_forward(a, y, y, rows, cols, threads);
}

void activation_forward(Activation a, const float* x, float* y, int64_t rows, int64_t cols,
                        int threads) {
  const int64_t n = rows * cols;
  const bool par = threads > 1 && n > 65536;
  switch (a) {
    case Activation::Linear:
      if (x != y) std::copy(x, x + n, y);
      return;
    case Activation::Relu:
      in_blocks(n, par, threads, [&](int64_t lo, int64_t hi) {
#pragma omp simd
        for (int64_t i = lo; i < hi; ++i) y[i] = x[i] > 0.f ? x[i] : 0.f;
      });
      return;
    case Activation::Softmax:
      parallel_for(par ? threads : 1, rows, [&](int64_t r) {
        if (x != y) std::copy(x + r * cols, x + (r + 1) * cols, y + r * cols);
        softmax_row(y + r * cols, cols);
      });
      return;
    default:
      with_elementwise(a, [&](auto act) {
        in_blocks(n, par, threads, [&](int64_t lo, int64_t hi) {
          forward_block<decltype(act)::value>(x, y, lo, hi);
        });
      });
      return;
  }
}

void activation_backward(Activation a, const float* y, float* dy, int64_t rows, int64_t cols,
                         int threads, const float* x) {
  activation_backward(a, y, dy, dy, rows, cols, threads, x);
}

void activation_backward(Activation a, const float* y, const float* dy, float* dx, int64_t rows,
                         int64_t cols, int threads, const float* x) {
  if (needs_input(a) && !x)
    throw StateError(cat("the backward pass of '", activation_name(a), "' needs its input"));
  const int64_t n = rows * cols;
  const bool par = threads > 1 && n > 65536;
  auto each = [&](auto body) {
    in_blocks(n, par, threads, [&](int64_t lo, int64_t hi) {
#pragma omp simd
      for (int64_t i = lo; i < hi; ++i) dx[i] = body(i);
    });
  };
  switch (a) {
    case Activation::Linear:
      if (dx != dy) std::copy(dy, dy + n, dx);
      return;
    case Activation::Relu:
      each([&](int64_t i) { return y[i] > 0.f ? dy[i] : 0.f; });
      return;
    case Activation::Tanh:
      each([&](int64_t i) { return dy[i] * (1.f - y[i] * y[i]); });
      return;
    case Activation::Sigmoid:
      each([&](int64_t i) { return dy[i] * (y[i] * (1.f - y[i])); });
      return;
    case Activation::Softmax:
      parallel_for(par ? threads : 1, rows, [&](int64_t r) {
        if (dx != dy) std::copy(dy + r * cols, dy + (r + 1) * cols, dx + r * cols);
        softmax_row_backward(y + r * cols, dx + r * cols, cols);
      });
      return;
    default: {
      const float* input = x ? x : y;
      with_elementwise(a, [&](auto act) {
        in_blocks(n, par, threads, [&](int64_t lo, int64_t hi) {
          backward_block<decltype(act)::value>(y, dy, dx, input, lo, hi);
        });
      });
      return;
    }
  }
}

}  // namespace pyconv::ops

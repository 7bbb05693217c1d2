#include "ops/activation.h"

#include <algorithm>
#include <atomic>
#include <cmath>

#include "core/error.h"
#include "core/finite.h"
#include "core/threads.h"
#include "core/training.h"
#include "kernels/dispatch.h"

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

// Softmax's Jacobian-vector product: dx = y * (dy - sum(dy * y)).
void softmax_row_backward(const float* y, float* dy, int64_t n) {
  float s = 0.f;
  for (int64_t i = 0; i < n; ++i) s += dy[i] * y[i];
  for (int64_t i = 0; i < n; ++i) dy[i] = y[i] * (dy[i] - s);
}

constexpr int64_t kBlock = 8192;  // elements per block of an element-wise pass

// Every activation, so that a GEMM's finish callback can point at one.
constexpr Activation kEvery[] = {
    Activation::Linear,  Activation::Relu,        Activation::Tanh,      Activation::Sigmoid,
    Activation::Softmax, Activation::Elu,         Activation::Selu,      Activation::Softplus,
    Activation::Relu6,   Activation::HardSigmoid, Activation::LeakyRelu, Activation::Gelu,
    Activation::Swish};
static_assert(kEvery[static_cast<int>(Activation::Swish)] == Activation::Swish,
              "kEvery lists the activations in their enum's order");

// GemmExtras::finish: the activation ctx points at, on each row of the block.
void activate_block(const void* ctx, float* c, int64_t ldc, int64_t rows, int64_t cols) {
  const Activation a = *static_cast<const Activation*>(ctx);
  const auto kernel = kernels::active().activation_forward_f32;
  // Whole rows (a convolution's few filters a pixel) are one run: row by
  // row, six or sixteen values would each leave the vector loop for its tail.
  if (ldc == cols) return kernel(a, c, c, rows * cols);
  for (int64_t r = 0; r < rows; ++r) kernel(a, c + r * ldc, c + r * ldc, cols);
}

}  // namespace

bool fuse_into_gemm(Activation a, kernels::GemmExtras& ex) {
  if (a == Activation::Softmax) return false;
  if (a == Activation::Relu) {
    ex.relu = true;
  } else if (a != Activation::Linear) {
    ex.finish = activate_block;
    ex.finish_ctx = &kEvery[static_cast<int>(a)];
  }
  return true;
}

void activation_forward(Activation a, float* y, int64_t rows, int64_t cols, int threads) {
  activation_forward(a, y, y, rows, cols, threads);
}

void activation_forward(Activation a, const float* x, float* y, int64_t rows, int64_t cols,
                        int threads, bool* non_finite_input) {
  const int64_t n = rows * cols;
  const bool par = threads > 1 && n > 65536;
  if (kTrainingBuilt && non_finite_input) {  // (a runtime-only build has no checking layer)
    if (a == Activation::Softmax) {  // rows, not blocks: the scan goes first
      *non_finite_input = first_non_finite(x, n, par ? threads : 1) >= 0;
      if (!*non_finite_input) activation_forward(a, x, y, rows, cols, threads);
      return;
    }
    const auto kernel = kernels::active().activation_forward_checked_f32;
    std::atomic<bool> bad{false};
    parallel_blocks(par ? threads : 1, n, kBlock, [&](int64_t lo, int64_t hi) {
      if (kernel(a, x + lo, y + lo, hi - lo)) bad.store(true, std::memory_order_relaxed);
    });
    *non_finite_input = bad.load();
    return;
  }
  switch (a) {
    case Activation::Linear:
      copy_through(y, x, n, threads);
      return;
    case Activation::Softmax: {
      const auto kernel = kernels::active().softmax_rows_f32;
      const int64_t block = std::max<int64_t>(1, kBlock / std::max<int64_t>(cols, 1));
      parallel_blocks(par ? threads : 1, rows, block, [&](int64_t lo, int64_t hi) {
        kernel(x + lo * cols, y + lo * cols, hi - lo, cols);
      });
      return;
    }
    default: {
      const auto kernel = kernels::active().activation_forward_f32;
      parallel_blocks(par ? threads : 1, n, kBlock,
                      [&](int64_t lo, int64_t hi) { kernel(a, x + lo, y + lo, hi - lo); });
      return;
    }
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
  switch (a) {
    case Activation::Linear:
      parallel_copy(dx, dy, n, threads);
      return;
    case Activation::Softmax:
      parallel_for(par ? threads : 1, rows, [&](int64_t r) {
        if (dx != dy) std::copy(dy + r * cols, dy + (r + 1) * cols, dx + r * cols);
        softmax_row_backward(y + r * cols, dx + r * cols, cols);
      });
      return;
    default: {
      const float* input = x ? x : y;  // read only by the activations that need it
      const auto kernel = kernels::active().activation_backward_f32;
      parallel_blocks(par ? threads : 1, n, kBlock, [&](int64_t lo, int64_t hi) {
        kernel(a, y + lo, dy + lo, dx + lo, input + lo, hi - lo);
      });
      return;
    }
  }
}

}  // namespace pyconv::ops

// The element-wise activation kernels' source, included once per ISA inside
// that ISA's namespace (activation_ref.cpp, activation_avx2.cpp), with
// vmath_impl.h before it. Each activation gets its own loop (the activation a
// compile-time constant), so that no loop has a switch per element and those
// built from vmath's functions vectorise. The including file provides
// <algorithm>, <cmath>, <cstdint>, <cstring>, <limits>, <type_traits>,
// kernels/activation.h and kernels/finite.h.

namespace {

constexpr float kSeluAlpha = 1.6732632423543772f, kSeluScale = 1.0507009873554805f;
constexpr float kLeakySlope = 0.2f;  // Keras's leaky_relu by name

inline float elu(float v) { return v > 0.f ? v : expm1_vec(v); }
inline float softplus(float v) {  // log(1 + e^v) = max(v, 0) + log(1 + e^-|v|): no overflow
  const float a = v < 0.f ? -v : v;
  const float y = (v > 0.f ? v : 0.f) + log1p_vec(exp_vec(-a));
  return v != v ? v : y;
}

template <Activation A>
inline float apply(float v) {
  switch (A) {
    case Activation::Relu: return v > 0.f ? v : 0.f;
    case Activation::Tanh: return tanh_vec(v);
    case Activation::Sigmoid: return sigmoid_vec(v);
    case Activation::Elu: return elu(v);
    case Activation::Selu: return kSeluScale * (v > 0.f ? v : kSeluAlpha * expm1_vec(v));
    case Activation::Softplus: return softplus(v);
    case Activation::Relu6: return std::min(std::max(v, 0.f), 6.f);
    case Activation::HardSigmoid: return std::min(std::max(v / 6.f + 0.5f, 0.f), 1.f);
    case Activation::LeakyRelu: return v > 0.f ? v : kLeakySlope * v;
    case Activation::Gelu: return gelu_vec(v);
    case Activation::Swish: return v * sigmoid_vec(v);
    default: return v;
  }
}

// d act / d x at output y (and input x where the activation needs it).
template <Activation A>
inline float derivative(float y, float x) {
  switch (A) {
    case Activation::Relu: return y > 0.f ? 1.f : 0.f;
    case Activation::Tanh: return 1.f - y * y;
    case Activation::Sigmoid: return y * (1.f - y);
    case Activation::Elu: return y > 0.f ? 1.f : y + 1.f;
    case Activation::Selu: return y > 0.f ? kSeluScale : y + kSeluScale * kSeluAlpha;
    case Activation::Softplus: return -expm1_vec(-y);  // sigmoid(x) = 1 - e^-y
    case Activation::Relu6: return y > 0.f && y < 6.f ? 1.f : 0.f;
    case Activation::HardSigmoid: return y > 0.f && y < 1.f ? 1.f / 6.f : 0.f;
    case Activation::LeakyRelu: return y > 0.f ? 1.f : kLeakySlope;
    case Activation::Gelu: return gelu_grad_vec(x);
    case Activation::Swish: {
      const float s = sigmoid_vec(x);
      return s * (1.f + x * (1.f - s));
    }
    default: return 1.f;
  }
}

template <Activation A>
void forward_loop(const float* x, float* y, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = apply<A>(x[i]);
}

// The forward loop that also ORs together whether each x is NaN or infinite.
template <Activation A>
bool forward_checked_loop(const float* x, float* y, int64_t n) {
  uint32_t bad = 0;
#pragma omp simd reduction(| : bad)
  for (int64_t i = 0; i < n; ++i) {
    bad |= non_finite_bit(x[i]);
    y[i] = apply<A>(x[i]);
  }
  return bad != 0;
}

template <Activation A>
void backward_loop(const float* y, const float* dy, float* dx, const float* x, int64_t n) {
  if (A == Activation::Relu) {  // a select, not dy * 0: a NaN gradient stays where it is cut
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      const float g = dy[i];
      dx[i] = y[i] > 0.f ? g : 0.f;
    }
    return;
  }
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * derivative<A>(y[i], x[i]);
}

// Calls fn with the activation as a compile-time constant.
template <class Fn>
void with_elementwise(Activation a, Fn fn) {
  using A = Activation;
  switch (a) {
    case A::Relu: return fn(std::integral_constant<A, A::Relu>());
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
    default: return fn(std::integral_constant<A, A::Linear>());
  }
}

}  // namespace

void activation_forward_f32(Activation a, const float* x, float* y, int64_t n) {
  with_elementwise(a, [&](auto act) { forward_loop<decltype(act)::value>(x, y, n); });
}

// One read of x for both jobs: the cheap activations are memory-bound, and
// GELU, tanh and sigmoid ran 2-4% faster so than after a scan of their own
// (AVX2, 8192 values in L1; ELU 1% slower).
bool activation_forward_checked_f32(Activation a, const float* x, float* y, int64_t n) {
  bool bad = false;
  with_elementwise(a, [&](auto act) { bad = forward_checked_loop<decltype(act)::value>(x, y, n); });
  return bad;
}

void activation_backward_f32(Activation a, const float* y, const float* dy, float* dx,
                             const float* x, int64_t n) {
  with_elementwise(a, [&](auto act) { backward_loop<decltype(act)::value>(y, dy, dx, x, n); });
}

void softmax_rows_f32(const float* x, float* y, int64_t rows, int64_t cols) {
  if (cols <= 0) return;
  // Three passes over the rows: x - max per row; e^ of the whole block at
  // once (vectorised across rows too: a row may be only 10 classes); each
  // row divided by its sum.
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = xr[0];
#pragma omp simd reduction(max : m)
    for (int64_t i = 0; i < cols; ++i) m = std::max(m, xr[i]);
#pragma omp simd
    for (int64_t i = 0; i < cols; ++i) yr[i] = xr[i] - m;
  }
  const int64_t n = rows * cols;
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) y[i] = exp_vec(y[i]);
  for (int64_t r = 0; r < rows; ++r) {
    float* yr = y + r * cols;
    double s = 0.0;  // in double: a long row's float sum would drift with the vector width
#pragma omp simd reduction(+ : s)
    for (int64_t i = 0; i < cols; ++i) s += yr[i];
    const float inv = static_cast<float>(1.0 / s);
#pragma omp simd
    for (int64_t i = 0; i < cols; ++i) yr[i] *= inv;
  }
}

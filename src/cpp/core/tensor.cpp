#include "core/tensor.h"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#include "core/error.h"
#include "core/threads.h"

namespace pyconv {

namespace {
// f(begin, end) over [0, n) in one part a thread: one core does not saturate
// memory bandwidth, and from about 1 MB two move about twice as fast as one.
template <class F>
void by_parts(int64_t n, F&& f) {
  const int parts = threads_for(n / 4, num_threads());
  parallel_for(parts, parts, [&](int64_t t) { f(n * t / parts, n * (t + 1) / parts); });
}
}  // namespace

std::string shape_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(s[i]);
  }
  if (s.size() == 1) out += ",";
  return out + ")";
}

std::string shapes_str(const std::vector<Shape>& shapes) {
  std::string out;
  for (size_t i = 0; i < shapes.size(); ++i) out += (i ? ", " : "") + shape_str(shapes[i]);
  return out;
}

std::string batch_shape_str(const Shape& sample) {
  std::string out = "(N";
  for (int64_t d : sample) out += ", " + std::to_string(d);
  return out + ")";
}

namespace {
constexpr size_t kAlign = 64;

// Larger requests fail as std::bad_alloc (Python's MemoryError) before the
// byte count could wrap around; no allocator serves half the address space.
constexpr size_t kMaxBytes = static_cast<size_t>(PTRDIFF_MAX / 2);

std::shared_ptr<float> allocate(size_t count) {
  if (count > kMaxBytes / sizeof(float)) throw std::bad_alloc();
  const size_t bytes = ((count * sizeof(float) + kAlign - 1) / kAlign) * kAlign;
  void* p = std::aligned_alloc(kAlign, bytes ? bytes : kAlign);
  if (!p) throw std::bad_alloc();
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}
}  // namespace

Tensor Tensor::view(float* data, const Shape& shape) {
  Tensor t;
  t.shape_ = shape;
  t.numel_ = shape_numel(shape);
  t.data_ = data;
  return t;
}

void Tensor::view_of(float* data, const Shape& shape) {
  const int64_t n = shape_numel(shape);
  storage_.reset();
  owner_.reset();
  capacity_ = 0;
  shape_ = shape;
  numel_ = n;
  data_ = data;
}

Tensor Tensor::view(const float* data, const Shape& shape, std::shared_ptr<const void> owner) {
  Tensor t = view(const_cast<float*>(data), shape);
  t.owner_ = std::move(owner);
  return t;
}

void Tensor::resize(const Shape& shape) {
  int64_t n = shape_numel(shape);
  if (n < 0) throw ShapeError(cat("negative dimension in shape ", shape_str(shape)));
  if (!storage_ && data_) {  // a view can only take another shape of its own size
    if (n != numel_) throw StateError("cannot resize a tensor that views external memory");
    shape_ = shape;
    return;
  }
  if (static_cast<size_t>(n) > capacity_) {
    storage_ = allocate(static_cast<size_t>(n));
    capacity_ = static_cast<size_t>(n);
    data_ = storage_.get();
  }
  shape_ = shape;
  numel_ = n;
}

void Tensor::zero() {
  if (numel_ == 0) return;  // (data_ may be null)
  by_parts(numel_, [&](int64_t begin, int64_t end) {
    std::memset(data_ + begin, 0, sizeof(float) * (end - begin));
  });
}

void Tensor::fill(float v) { std::fill(data_, data_ + numel_, v); }

Tensor Tensor::reshaped(const Shape& shape) const {
  if (shape_numel(shape) != numel_)
    throw ShapeError(cat("cannot reshape ", shape_str(shape_), " to ", shape_str(shape)));
  Tensor t = *this;
  t.shape_ = shape;
  return t;
}

void copy_floats(float* dst, const float* src, int64_t n) {
  by_parts(n, [&](int64_t begin, int64_t end) {
    std::memcpy(dst + begin, src + begin, sizeof(float) * (end - begin));
  });
}

void add_floats(float* dst, const float* src, int64_t n) {
  by_parts(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t j = begin; j < end; ++j) dst[j] += src[j];
  });
}

Tensor Tensor::clone() const {
  Tensor t(shape_);
  copy_floats(t.data_, data_, numel_);
  return t;
}

}  // namespace pyconv

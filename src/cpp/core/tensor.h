// Tensor: float32, N-d, row-major, 64-byte aligned storage.
// A tensor either owns its buffer (reused across resizes that fit) or views
// memory owned elsewhere (a numpy array handed over without a copy).
#pragma once
#include <cstddef>
#include <memory>

#include "core/shape.h"

namespace pyconv {

// dst[0, n) = src[0, n); a large copy is shared among the threads.
void copy_floats(float* dst, const float* src, int64_t n);
// dst[0, n) += src[0, n), shared among the threads alike.
void add_floats(float* dst, const float* src, int64_t n);

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(const Shape& shape) { resize(shape); }

  // Wraps external memory; the caller keeps it alive while the view is used.
  static Tensor view(float* data, const Shape& shape);
  // Wraps read-only memory that `owner` keeps alive (weights in a mapped
  // model file). Nothing may write through it: clone it first.
  static Tensor view(const float* data, const Shape& shape, std::shared_ptr<const void> owner);
  // Makes this tensor a view of `data` (letting go of what it held), reusing
  // its shape's memory: a caller that views a new buffer on every call (the
  // C API runner) allocates nothing.
  void view_of(float* data, const Shape& shape);

  // Sets the shape; reallocates only when the new size exceeds the capacity.
  // Contents are unspecified afterwards. A view keeps its memory, so it only
  // accepts shapes of the same element count.
  void resize(const Shape& shape);
  void zero();
  void fill(float v);
  // Same data, new shape with the same element count.
  Tensor reshaped(const Shape& shape) const;
  Tensor clone() const;

  const Shape& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_[i < 0 ? shape_.size() + i : i]; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }
  // Bytes of storage this tensor owns (0 for a view).
  size_t held_bytes() const { return capacity_ * sizeof(float); }
  float* data() { return data_; }
  const float* data() const { return data_; }
  bool is_view() const { return !storage_ && data_; }

 private:
  Shape shape_;
  int64_t numel_ = 0;
  size_t capacity_ = 0;
  std::shared_ptr<float> storage_;  // null for views
  std::shared_ptr<const void> owner_;  // what a view's memory belongs to, if kept alive
  float* data_ = nullptr;
};

}  // namespace pyconv

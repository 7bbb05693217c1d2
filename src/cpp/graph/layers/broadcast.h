// Broadcasting a smaller tensor over a larger one: each axis of the smaller
// is the larger's size, or 1 (repeated along it). Shared by the merge layers
// and PReLU.
#pragma once
#include <cstdint>

#include "core/tensor.h"

namespace pyconv {

// The smaller tensor's element under the larger's element (row, col), where
// rows run over every axis but the last. Both shapes have the same rank.
// It refers to the two shapes (no copies: building one allocates nothing),
// which must outlive it.
class Broadcast {
 public:
  Broadcast(const Shape& out, const Shape& in) : out_(out), in_(in) {}
  int64_t cols() const { return out_.back(); }
  bool col_broadcast() const { return in_.back() == 1 && out_.back() != 1; }
  bool same() const { return in_ == out_; }
  // Where the smaller tensor's row under row r starts, and how far it moves
  // per column (0 where its last axis is broadcast): loops over a row take
  // these once, not index() per element.
  int64_t row_start(int64_t r) const { return same() ? r * cols() : row_offset(r); }
  int64_t col_step() const { return col_broadcast() ? 0 : 1; }
  // Index in the smaller tensor of element (r, c) of the larger, and its value.
  int64_t index(int64_t r, int64_t c) const { return row_start(r) + col_step() * c; }
  float at(const Tensor& x, int64_t r, int64_t c) const { return x.data()[index(r, c)]; }
  // Where the smaller tensor's row under row r starts (any shapes).
  int64_t row_offset(int64_t r) const {
    int64_t offset = 0, stride = in_.back();
    for (size_t d = out_.size() - 1; d-- > 0;) {
      const int64_t i = r % out_[d];
      r /= out_[d];
      if (in_[d] != 1) offset += i * stride;
      stride *= in_[d];
    }
    return offset;
  }

 private:
  const Shape& out_;  // the larger's
  const Shape& in_;   // the smaller's
};

}  // namespace pyconv

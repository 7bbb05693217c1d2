// Padding arithmetic shared by convolution and pooling.
#pragma once
#include <cstdint>
#include <string>

namespace pyconv::ops {

enum class PadMode { Valid, Same, Explicit };

struct Padding2D {
  PadMode mode = PadMode::Valid;
  int64_t top = 0, bottom = 0, left = 0, right = 0;  // used when mode == Explicit
};

struct Extent {
  int64_t before, out;  // padding before the first element, and the output size
};

// Output size along one axis: (in + before + after - d*(k-1) - 1) / s + 1 for
// explicit/valid padding; TensorFlow's ceil(in / s) with the excess split
// (smaller half first) for "same". Throws ShapeError naming `who` and `axis`
// when the padded input is smaller than the dilated kernel.
Extent resolve_extent(PadMode mode, int64_t in, int64_t k, int64_t s, int64_t d,
                      int64_t before, int64_t after, const std::string& who, const char* axis);

}  // namespace pyconv::ops

#include "ops/padding.h"

#include <algorithm>

#include "core/error.h"

namespace pyconv::ops {

Extent resolve_extent(PadMode mode, int64_t in, int64_t k, int64_t s, int64_t d,
                      int64_t before, int64_t after, const std::string& who, const char* axis) {
  const int64_t span = d * (k - 1) + 1;  // the dilated kernel's extent
  if (mode == PadMode::Same) {
    const int64_t out = (in + s - 1) / s;
    const int64_t total = std::max<int64_t>((out - 1) * s + span - in, 0);
    return {total / 2, out};
  }
  if (mode == PadMode::Valid) before = after = 0;
  const int64_t padded = in + before + after;
  if (padded < span)
    throw ShapeError(cat(who, ": the ", axis, " of the input (", in, ", padded to ", padded,
                         ") is smaller than the kernel's dilated extent ", span,
                         "; expected an input of at least ", span - before - after));
  return {before, (padded - span) / s + 1};
}

}  // namespace pyconv::ops

#include "ops/padding.h"

#include <algorithm>

#include "core/checked.h"
#include "core/error.h"

namespace pyconv::ops {

Extent resolve_extent(PadMode mode, int64_t in, int64_t k, int64_t s, int64_t d,
                      int64_t before, int64_t after, const std::string& who, const char* axis) {
  // Checked: with arguments near 2**63 these would wrap around to small or
  // negative sizes. Each message names the size being computed.
  const std::string kernel = cat(who, ": the ", axis, " of the dilated kernel");
  const int64_t span = checked_add(checked_mul(d, k - 1, kernel), 1, kernel);
  if (mode == PadMode::Same) {
    const int64_t out = in / s + (in % s != 0);  // ceil(in / s), and in + s - 1 may overflow
    const std::string covered = cat(who, ": the ", axis, " covered by the 'same' windows");
    const int64_t needed = checked_add(checked_mul(out - 1, s, covered), span, covered);
    const int64_t total = std::max<int64_t>(needed - in, 0);
    return {total / 2, out};
  }
  if (mode == PadMode::Valid) before = after = 0;
  const std::string padded_what = cat(who, ": the ", axis, " of the padded input");
  const int64_t padded = checked_add(checked_add(in, before, padded_what), after, padded_what);
  if (padded < span)
    throw ShapeError(cat(who, ": the ", axis, " of the input (", in, ", padded to ", padded,
                         ") is smaller than the kernel's dilated extent ", span,
                         "; expected an input of at least ", span - before - after));
  return {before, (padded - span) / s + 1};
}

}  // namespace pyconv::ops

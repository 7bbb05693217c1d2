// Layer::row_op's description of a layer: its shapes and window, from the
// kernels' int64 geometry into a pcvm op's int32 fields.
#pragma once
#include <cstdint>
#include <limits>

#include "micro/pcvm.h"

namespace pyconv {

struct RowWindow {
  int64_t in_h, in_w, in_c, out_h, out_w, out_c;
  int64_t kh = 1, kw = 1, sh = 1, sw = 1, dh = 1, dw = 1, pad_top = 0, pad_left = 0, groups = 1;
};

// False where a value does not fit (no bands for such a layer).
inline bool describe_rows(uint8_t type, const RowWindow& w, pcvm::Op* op) {
  const int64_t values[] = {w.in_h, w.in_w, w.in_c, w.out_h, w.out_w, w.out_c, w.kh, w.kw,
                            w.sh,   w.sw,   w.dh,   w.dw,   w.pad_top, w.pad_left, w.groups};
  for (int64_t v : values)
    if (v < 0 || v > std::numeric_limits<int32_t>::max()) return false;
  *op = pcvm::Op{};
  op->type = type;
  op->in_h = static_cast<int32_t>(w.in_h), op->in_w = static_cast<int32_t>(w.in_w);
  op->in_c = static_cast<int32_t>(w.in_c), op->out_h = static_cast<int32_t>(w.out_h);
  op->out_w = static_cast<int32_t>(w.out_w), op->out_c = static_cast<int32_t>(w.out_c);
  op->kh = static_cast<int32_t>(w.kh), op->kw = static_cast<int32_t>(w.kw);
  op->sh = static_cast<int32_t>(w.sh), op->sw = static_cast<int32_t>(w.sw);
  op->dh = static_cast<int32_t>(w.dh), op->dw = static_cast<int32_t>(w.dw);
  op->pad_top = static_cast<int32_t>(w.pad_top), op->pad_left = static_cast<int32_t>(w.pad_left);
  op->groups = static_cast<int32_t>(w.groups);
  return true;
}

}  // namespace pyconv

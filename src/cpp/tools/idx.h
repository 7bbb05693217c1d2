// IDX files (the MNIST format): a big-endian header of magic (0, 0, type,
// rank) and `rank` 32-bit dimensions, then the values, big-endian.
#pragma once
#include <string>

#include "array.h"

namespace pcvrun {

// Types 0x08 (uint8), 0x09 (int8), 0x0B (int16), 0x0C (int32), 0x0D (float32),
// 0x0E (float64). InputError for a bad header or a data size that does not match.
Array parse_idx(const Bytes& bytes, const std::string& name);
// True if the bytes start like an IDX file (used to recognise the input type).
bool looks_like_idx(const Bytes& bytes);

}  // namespace pcvrun

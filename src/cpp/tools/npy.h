// NumPy .npy files (format versions 1-3): float32 or uint8, C order.
#pragma once
#include <string>

#include "array.h"

namespace pcvrun {

// Parses a whole .npy file; `name` prefixes error messages. InputError for a
// bad magic, header, dtype, Fortran order, or a data size that does not match.
Array parse_npy(const Bytes& bytes, const std::string& name);
// A little-endian float32 .npy file (version 1.0) holding `data` of `shape`.
Bytes format_npy(const float* data, const std::vector<int64_t>& shape);

}  // namespace pcvrun

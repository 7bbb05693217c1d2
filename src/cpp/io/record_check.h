// The rules every ModelRecord obeys, checked by encode (before writing) and
// by decode (after parsing), so a file that saves always loads.
#pragma once
#include <cstdint>
#include <string>

#include "core/shape.h"
#include "io/pcv_format.h"

namespace pyconv::io {

// "" when the record is valid, else one sentence naming the first problem.
std::string record_problem(const ModelRecord& m);

// Bytes of `dtype` data for `shape`, or -1 when a dimension is negative or
// the size overflows int64.
int64_t tensor_bytes(const Shape& shape, layout::DType dtype = layout::kFloat32);

}  // namespace pyconv::io

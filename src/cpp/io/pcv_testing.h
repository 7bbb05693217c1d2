// For tests only: encoding without the record checks, so a test can build
// the files a correct writer never produces (a node that refers to a later
// node, a NaN weight, ...) and check that decode refuses them.
#pragma once
#include <cstdint>
#include <vector>

#include "io/pcv_format.h"

namespace pyconv::io::testing {

// Like encode, minus record_problem. Tensors still need valid shapes and data.
std::vector<uint8_t> encode_unchecked(const ModelRecord& m);

}  // namespace pyconv::io::testing

// Reductions shared by the ops' backward passes.
#pragma once
#include <cstdint>

namespace pyconv::ops {

// out[c] = sum over r of m[r * cols + c]: the bias gradient of a layer whose
// output gradient is m (rows = batch x pixels).
void column_sums(const float* m, int64_t rows, int64_t cols, float* out, int threads);

}  // namespace pyconv::ops

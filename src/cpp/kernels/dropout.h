// Dropout's element loop, one per ISA (the mask is a 32-bit hash for every
// two elements, which vectorises with the ISA's 32-bit multiplies; plain
// x86-64 has none). The layer (graph/layers/dropout.cpp) splits the
// elements among threads.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

// dropout_f32: for i in [lo, hi): keep = whether element i's 16 hash bits
//              under the key (k0, k1) reach `threshold` (< 2^16), and
//              dst[i] = keep ? src[i] * scale : 0 (dst may be src). The
//              forward pass maps x to y; backward dy to dx, from the same key.
#define PCV_DROPOUT_DECLS                                                                \
  void dropout_f32(const float* src, float* dst, int64_t lo, int64_t hi, uint32_t k0,    \
                   uint32_t k1, uint32_t threshold, float scale);

namespace ref {
PCV_DROPOUT_DECLS
}
namespace avx2 {
PCV_DROPOUT_DECLS
}
namespace avx512 {
PCV_DROPOUT_DECLS
}
#undef PCV_DROPOUT_DECLS

}  // namespace pyconv::kernels

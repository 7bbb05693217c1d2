// Dropout's element loops, one set per ISA (the mask is a 32-bit hash per
// element, which vectorises with the ISA's 32-bit multiplies; plain x86-64
// has none). The layer (graph/layers/dropout.cpp) splits the elements among
// threads.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

// dropout_forward_f32:  for i in [lo, hi): keep = whether element i's hash
//                       bits under the key (k0, k1) reach `threshold`, and
//                       y[i] = keep ? x[i] * scale : 0
// dropout_backward_f32: dx[i] = keep ? dy[i] * scale : 0 with keep hashed
//                       again from the same key (dx may be dy)
#define PCV_DROPOUT_DECLS                                                                    \
  void dropout_forward_f32(const float* x, float* y, int64_t lo, int64_t hi, uint32_t k0,    \
                           uint32_t k1, uint32_t threshold, float scale);                    \
  void dropout_backward_f32(const float* dy, float* dx, int64_t lo, int64_t hi, uint32_t k0, \
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

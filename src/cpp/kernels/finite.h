// The scan behind every finiteness check (core/finite.h), one per ISA: it
// reads each input batch, target and gradient once, so it runs at memory speed.
#pragma once
#include <cstdint>
#include <cstring>

namespace pyconv::kernels {

// 1 for NaN and +-inf, else 0: |v|'s bits above the largest finite float's
// (a bit test, which -ffast-math cannot fold away as it may isfinite).
// Static: each ISA's translation unit keeps its own copy, compiled with its
// flags, so the linker never hands one ISA's code to another.
static inline uint32_t non_finite_bit(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return static_cast<int32_t>(bits & 0x7fffffffu) > 0x7f7fffff;
}

// any_non_finite: whether p[0, n) holds a NaN or an infinity.
#define PCV_FINITE_DECLS bool any_non_finite(const float* p, int64_t n);

namespace ref {
PCV_FINITE_DECLS
}
namespace avx2 {
PCV_FINITE_DECLS
}
namespace avx512 {
PCV_FINITE_DECLS
}
#undef PCV_FINITE_DECLS

}  // namespace pyconv::kernels

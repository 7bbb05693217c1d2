// The scan behind every finiteness check (core/finite.h), one per ISA: it
// reads each input batch, target and gradient once, so it runs at memory speed.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

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

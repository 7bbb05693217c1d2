// The finiteness scan's source, included once per ISA inside that ISA's
// namespace (finite_ref.cpp, finite_avx2.cpp). The including file provides
// <cstdint>, <cstring> and kernels/finite.h.

bool any_non_finite(const float* p, int64_t n) {
  // Thirty-two lanes are OR-ed apart, so that the loop is not one
  // dependency chain (one OR per vector), and folded at the end.
  constexpr int kLanes = 32;
  uint32_t lanes[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes) {
#pragma omp simd
    for (int k = 0; k < kLanes; ++k) lanes[k] |= non_finite_bit(p[i + k]);
  }
  uint32_t any = 0;
  for (; i < n; ++i) any |= non_finite_bit(p[i]);
  for (int k = 0; k < kLanes; ++k) any |= lanes[k];
  return any != 0;
}

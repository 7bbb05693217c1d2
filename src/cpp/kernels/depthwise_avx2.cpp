// The depthwise kernels built for the "avx2" ISA (flags: see src/cpp/CMakeLists.txt):
// one output channel per input channel in registers (depthwise_direct_impl.h,
// four 8-float vectors at a time), channel multipliers above 1 through the
// generic kernels (depthwise_impl.h).
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/depthwise.h"

namespace pyconv::kernels::avx2 {

#include "kernels/scratch.h"

namespace generic {
#include "kernels/depthwise_impl.h"
}  // namespace generic

#include "kernels/avx2_tile.h"

namespace {
struct Lanes {
  using Vec = __m256;
  static constexpr int kWidth = 8, kVecs = 4;
  static Vec zero() { return _mm256_setzero_ps(); }
  static Vec load(const float* p, int64_t n) {
    return n >= kWidth ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, first_lanes(n));
  }
  static void store(float* p, Vec v, int64_t n) {
    if (n >= kWidth)
      _mm256_storeu_ps(p, v);
    else
      _mm256_maskstore_ps(p, first_lanes(n), v);
  }
  static Vec fma(Vec a, Vec b, Vec acc) { return _mm256_fmadd_ps(a, b, acc); }
  static Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
};
}  // namespace

#include "kernels/depthwise_direct_impl.h"

}  // namespace pyconv::kernels::avx2

// The depthwise kernels built for the "neon" ISA: one output channel per
// input channel in registers (depthwise_direct_impl.h, eight 4-float vectors
// at a time), channel multipliers above 1 through the generic kernels
// (depthwise_impl.h).
#include <arm_neon.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/depthwise.h"

namespace pyconv::kernels::neon {

#include "kernels/scratch.h"

namespace generic {
#include "kernels/depthwise_impl.h"
}  // namespace generic

namespace {
struct Lanes {
  using Vec = float32x4_t;
  static constexpr int kWidth = 4, kVecs = 8;
  static Vec zero() { return vdupq_n_f32(0.f); }
  static Vec load(const float* p, int64_t n) {
    if (n >= kWidth) return vld1q_f32(p);
    float part[kWidth] = {};
    std::copy(p, p + n, part);
    return vld1q_f32(part);
  }
  static void store(float* p, Vec v, int64_t n) {
    if (n >= kWidth) return vst1q_f32(p, v);
    float part[kWidth];
    vst1q_f32(part, v);
    std::copy(part, part + n, p);
  }
  static Vec fma(Vec a, Vec b, Vec acc) { return vfmaq_f32(acc, a, b); }
  static Vec add(Vec a, Vec b) { return vaddq_f32(a, b); }
};
}  // namespace

#include "kernels/depthwise_direct_impl.h"

}  // namespace pyconv::kernels::neon

// The planar convolution forward (few filters: kernels/conv_planar_impl.h)
// for the "avx512" table: 16 or 32 neighbouring pixels a step, so a 28-pixel
// row (LeNet's first layer) takes one step where AVX2 takes two.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/conv.h"

namespace pyconv::kernels::avx512 {

#include "kernels/avx2_lanes.h"
#include "kernels/scratch.h"

namespace {
struct Lanes {  // for kernels/conv_planar_impl.h
  using V = __m512;
  static constexpr int kWidth = 16;
  static V zero() { return _mm512_setzero_ps(); }
  static V load(const float* p) { return _mm512_loadu_ps(p); }
  static V broadcast(const float* p) { return _mm512_set1_ps(*p); }
  static V fmadd(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static void store_aligned(float* p, V v) { _mm512_store_ps(p, v); }
};
}  // namespace

#include "kernels/conv_planar_impl.h"

namespace {
thread_local Scratch<float> t_planes;
}  // namespace

void conv_forward_planar(const ConvGeometry& g, const float* x, const float* kernel,
                         const float* bias, bool relu, int64_t p_begin, int64_t p_end,
                         float* y) {
  planar_forward(t_planes, g, x, kernel, bias, relu, p_begin, p_end, y);
}

}  // namespace pyconv::kernels::avx512

// Resampling kernels: (N, H, W, C) images read through an affine map, each
// output pixel at a point that need not be a pixel, interpolated, with a rule
// for points outside the image (ops/resample.h says what uses them).
//
// Coordinates are pixel indices (pixel centres at integers): output pixel
// (r, c) of image n reads the input at
//   y = yr * r + yc * c + y0,  x = xr * r + xc * c + x0.
#pragma once
#include <cstdint>

namespace pyconv::kernels {

// Where an index outside [0, n) reads, as Keras's fill_mode:
// reflect "d c b a | a b c d | d c b a", wrap "a b c d | a b c d",
// nearest "a a a a | a b c d | d d d d", constant: the fill value.
enum class FillMode { Reflect, Wrap, Nearest, Constant };
enum class Interpolation { Nearest, Bilinear };

struct AffineMap {
  float yr = 1.f, yc = 0.f, y0 = 0.f;
  float xr = 0.f, xc = 1.f, x0 = 0.f;
};

struct ResampleGeometry {
  int64_t H = 0, W = 0, C = 0;  // input image
  int64_t OH = 0, OW = 0;       // output image
  Interpolation interpolation = Interpolation::Bilinear;
  FillMode fill = FillMode::Reflect;
  float fill_value = 0.f;
  // Points are first clamped to rows [y_lo, y_hi] and columns [x_lo, x_hi]
  // when `clamp` is set: a resize of a window reads only that window, as a
  // crop followed by a resize does.
  bool clamp = false;
  float y_lo = 0.f, y_hi = 0.f, x_lo = 0.f, x_hi = 0.f;
};

#define PCV_RESAMPLE_DECLS                                                                  \
  /* out[n] = the input resampled through maps[n] (one map per image). */                   \
  void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,  \
                        const AffineMap* maps, int threads);                                \
  /* din = the adjoint of resample_forward applied to dout (din is overwritten): each  */   \
  /* output pixel's gradient goes back to the pixels it read. */                            \
  void resample_backward(const ResampleGeometry& g, const float* dout, float* din,          \
                         int64_t N, const AffineMap* maps, int threads);

namespace ref {
PCV_RESAMPLE_DECLS
}
namespace avx2 {
PCV_RESAMPLE_DECLS
}
#undef PCV_RESAMPLE_DECLS

}  // namespace pyconv::kernels

// Resampling (N, H, W, C) images through an affine map (kernels/resample.h):
// Resizing, RandomCrop and the random spatial augmentations (flip, rotation,
// translation, zoom) use it.
#pragma once
#include <cstdint>
#include <string>

#include "kernels/resample.h"

namespace pyconv::ops {

using kernels::AffineMap;
using kernels::FillMode;
using kernels::Interpolation;
using kernels::ResampleGeometry;

// ValueError naming `who` for another name.
FillMode parse_fill_mode(const std::string& name, const std::string& who);
Interpolation parse_interpolation(const std::string& name, const std::string& who);

// The map that resizes H x W to OH x OW (half-pixel centres, as Keras,
// TensorFlow and PyTorch's align_corners=False), reading the window of
// rows [top, top + height) and columns [left, left + width) of the input
// (a window may reach past the image: pad_to_aspect_ratio).
AffineMap resize_map(double top, double height, double left, double width, int64_t OH,
                     int64_t OW);

// out[n] = the input resampled through maps[n] (one map per image).
void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                      const AffineMap* maps, int threads);
// din = the adjoint of resample_forward applied to dout (din is overwritten):
// each output pixel's gradient goes back to the pixels it read.
void resample_backward(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                       const AffineMap* maps, int threads);

}  // namespace pyconv::ops

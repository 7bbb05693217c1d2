#include "ops/resample.h"

#include "core/error.h"
#include "kernels/dispatch.h"

namespace pyconv::ops {

FillMode parse_fill_mode(const std::string& name, const std::string& who) {
  if (name == "reflect") return FillMode::Reflect;
  if (name == "wrap") return FillMode::Wrap;
  if (name == "nearest") return FillMode::Nearest;
  if (name == "constant") return FillMode::Constant;
  throw ValueError(cat(who, ": fill_mode must be 'reflect', 'wrap', 'nearest' or 'constant', "
                            "received '", name, "'"));
}

Interpolation parse_interpolation(const std::string& name, const std::string& who) {
  if (name == "bilinear") return Interpolation::Bilinear;
  if (name == "nearest") return Interpolation::Nearest;
  throw ValueError(cat(who, ": interpolation must be 'bilinear' or 'nearest', received '", name,
                       "'"));
}

AffineMap resize_map(double top, double height, double left, double width, int64_t OH,
                     int64_t OW) {
  // Output pixel r covers [r, r + 1) of OH; its centre r + 0.5 lands at
  // top + (r + 0.5) * height / OH in the input, whose pixel centres sit at
  // i + 0.5: so y = top + (r + 0.5) * sy - 0.5.
  const double sy = height / static_cast<double>(OH), sx = width / static_cast<double>(OW);
  AffineMap m;
  m.yr = static_cast<float>(sy);
  m.yc = 0.f;
  m.y0 = static_cast<float>(top + 0.5 * sy - 0.5);
  m.xr = 0.f;
  m.xc = static_cast<float>(sx);
  m.x0 = static_cast<float>(left + 0.5 * sx - 0.5);
  return m;
}

void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                      const AffineMap* maps, int threads) {
  kernels::active().resample_forward(g, in, out, N, maps, threads);
}

void resample_backward(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                       const AffineMap* maps, int threads) {
  kernels::active().resample_backward(g, dout, din, N, maps, threads);
}

}  // namespace pyconv::ops

#include "ops/pool.h"

#include <cstdint>

#include "core/error.h"
#include "kernels/dispatch.h"

namespace pyconv::ops {

kernels::PoolGeometry pool2d_geometry(const Shape& input, const Pool2DArgs& a,
                                      const std::string& who) {
  if (a.kh <= 0 || a.kw <= 0)
    throw ValueError(cat(who, ": pool_size must be positive, received (", a.kh, ", ", a.kw, ")"));
  if (a.sh <= 0 || a.sw <= 0)
    throw ValueError(cat(who, ": strides must be positive, received (", a.sh, ", ", a.sw, ")"));
  if (input.size() != 3)
    throw ShapeError(cat(who, ": expected input of shape (N, H, W, C), received ",
                         batch_shape_str(input)));
  kernels::PoolGeometry g{};
  g.H = input[0];
  g.W = input[1];
  g.C = input[2];
  const Extent eh = resolve_extent(a.padding, g.H, a.kh, a.sh, 1, 0, 0, who, "height");
  const Extent ew = resolve_extent(a.padding, g.W, a.kw, a.sw, 1, 0, 0, who, "width");
  g.OH = eh.out;
  g.OW = ew.out;
  g.PT = eh.before;
  g.PL = ew.before;
  g.KH = a.kh;
  g.KW = a.kw;
  g.SH = a.sh;
  g.SW = a.sw;
  // No size check here: each output extent is at most the input's, whose
  // element count the layer before (or the batch itself) has checked.
  return g;
}

void maxpool2d_forward(kernels::PoolGeometry g, const Tensor& x, Tensor& y,
                       std::vector<int32_t>* argmax, int threads) {
  g.N = x.dim(0);
  // The winners' indices within a sample are int32.
  if (argmax && g.H * g.W * g.C > INT32_MAX)
    throw ValueError(cat("max pooling with a backward pass takes samples of at most 2**31 - 1 "
                         "values, received ", shape_str(x.shape())));
  if (argmax) argmax->resize(static_cast<size_t>(y.numel()));
  kernels::active().maxpool2d_f32(g, x.data(), y.data(), argmax ? argmax->data() : nullptr,
                                  threads);
}

void maxpool2d_backward(kernels::PoolGeometry g, const Tensor& dy,
                        const std::vector<int32_t>& argmax, Tensor& dx, int threads) {
  g.N = dx.dim(0);
  kernels::active().maxpool2d_backward_f32(g, dy.data(), argmax.data(), dx.data(), threads);
}

void avgpool2d_forward(kernels::PoolGeometry g, const Tensor& x, Tensor& y, int threads) {
  g.N = x.dim(0);
  kernels::active().avgpool2d_f32(g, x.data(), y.data(), threads);
}

void avgpool2d_backward(kernels::PoolGeometry g, const Tensor& dy, Tensor& dx, int threads) {
  g.N = dx.dim(0);
  kernels::active().avgpool2d_backward_f32(g, dy.data(), dx.data(), threads);
}

void pool2d_forward_sample(kernels::PoolGeometry g, bool max, const float* x, float* y) {
  g.N = 1;
  if (max)
    kernels::active().maxpool2d_f32(g, x, y, nullptr, 1);
  else
    kernels::active().avgpool2d_f32(g, x, y, 1);
}

}  // namespace pyconv::ops

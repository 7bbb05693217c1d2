// The reference convolution forward: columns packed from the image into a
// GEMM. With the reference GEMM (one row at a time) it is the oracle for the
// direct kernels.
#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels {

void conv_forward_packed(SgemmFn sgemm, const ConvGeometry& g, int64_t group, const float* x,
                         const float* kernel, const float* bias, bool relu, int64_t p_begin,
                         int64_t p_end, float* y) {
  const int64_t Fg = g.cout_group(), K = g.col_width();
  const Im2colSource source{&g, group, x, p_begin};
  GemmExtras ex;
  ex.pack_a = pack_im2col;
  ex.pack_a_ctx = &source;
  ex.bias = bias ? bias + group * Fg : nullptr;
  ex.relu = relu;
  sgemm(false, false, p_end - p_begin, Fg, K, 1.f, nullptr, K, kernel + group * Fg, g.F, 0.f,
        y + p_begin * g.F + group * Fg, g.F, 1, &ex);
}

namespace ref {

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y) {
  conv_forward_packed(sgemm, g, group, x, kernel, bias, relu, p_begin, p_end, y);
}

}  // namespace ref
}  // namespace pyconv::kernels

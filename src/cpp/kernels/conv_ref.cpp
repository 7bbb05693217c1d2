// The reference convolution forward: columns packed from the image into the
// reference GEMM (one row at a time). The oracle for the direct kernels.
#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::ref {

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y) {
  const int64_t Fg = g.cout_group(), K = g.col_width();
  const Im2colSource source{&g, group, x, p_begin};
  GemmExtras ex;
  ex.pack_a = pack_im2col;
  ex.pack_a_ctx = &source;
  ex.bias = bias ? bias + group * Fg : nullptr;
  ex.relu = relu;
  ref::sgemm(false, false, p_end - p_begin, Fg, K, 1.f, nullptr, K, kernel + group * Fg, g.F, 0.f,
        y + p_begin * g.F + group * Fg, g.F, 1, &ex);
}

}  // namespace pyconv::kernels::ref

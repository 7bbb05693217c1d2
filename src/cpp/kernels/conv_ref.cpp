// The reference convolution forward: columns packed from the image into a
// GEMM. With the reference GEMM (one row at a time) it is the oracle for the
// direct kernels.
#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels {

void conv_forward_packed(SgemmFn sgemm, const ConvGeometry& g, int64_t group, const float* x,
                         const float* kernel, const float* packed_b, const float* bias,
                         bool relu, int64_t q_begin, int64_t q_end, float* y) {
  const int64_t Fg = g.cout_group(), K = g.col_width();
  const Im2colSource source{&g, group, x, q_begin, g.H * g.W * g.C};
  GemmExtras ex;
  ex.pack_a = pack_im2col;
  ex.pack_a_ctx = &source;
  ex.packed_b = packed_b;
  ex.bias = bias ? bias + group * Fg : nullptr;
  ex.relu = relu;
  sgemm(false, false, q_end - q_begin, Fg, K, 1.f, nullptr, K, kernel + group * Fg, g.F, 0.f,
        y + q_begin * g.F + group * Fg, g.F, 1, &ex);
}

namespace ref {

// The oracle reads the kernel as it is: nothing to pack.
int64_t conv_packed_size(const ConvGeometry&) { return 0; }
void conv_pack(const ConvGeometry&, const float*, float*) {}
int64_t conv_forward_step(const ConvGeometry&) { return 1; }

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float*, const float* bias, bool relu, int64_t q_begin, int64_t q_end,
                  float* y) {
  conv_forward_packed(sgemm, g, group, x, kernel, nullptr, bias, relu, q_begin, q_end, y);
}

void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dkernel) {
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const float* d = dy + (oh * g.OW + ow) * g.F;
      for (int64_t kh = 0; kh < g.KH; ++kh)
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t ih = oh * g.SH - g.PT + kh * g.DH, iw = ow * g.SW - g.PL + kw * g.DW;
          if (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) continue;
          const float* xi = x + (ih * g.W + iw) * g.C;
          float* dk = dkernel + (kh * g.KW + kw) * g.C * g.F;
          for (int64_t c = 0; c < g.C; ++c)
            for (int64_t f = 0; f < g.F; ++f) dk[c * g.F + f] += xi[c] * d[f];
        }
    }
}

}  // namespace ref
}  // namespace pyconv::kernels

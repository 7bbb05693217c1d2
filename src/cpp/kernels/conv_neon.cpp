// Convolution forward for NEON: columns packed straight from the image into
// the NEON GEMM (conv_forward_packed), with the kernel's columns packed into
// that GEMM's panels once per model for inference (conv_pack).
#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::neon {

namespace {
int64_t group_packed_size(const ConvGeometry& g) {
  return sgemm_packed_b_size(g.col_width(), g.cout_group());
}
}  // namespace

int64_t conv_packed_size(const ConvGeometry& g) { return g.groups * group_packed_size(g); }

void conv_pack(const ConvGeometry& g, const float* kernel, float* packed) {
  const int64_t Fg = g.cout_group();
  for (int64_t grp = 0; grp < g.groups; ++grp)
    sgemm_pack_b(false, g.col_width(), Fg, kernel + grp * Fg, g.F,
                 packed + grp * group_packed_size(g));
}

// The GEMM's 8-row tile, so that no range ends in a part-filled tile.
int64_t conv_forward_step(const ConvGeometry&) { return 8; }

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* packed, const float* bias, bool relu, int64_t q_begin,
                  int64_t q_end, float* y) {
  conv_forward_packed(sgemm, g, group, x, kernel, packed ? packed + group * group_packed_size(g) : nullptr,
                      bias, relu, q_begin, q_end, y);
}

}  // namespace pyconv::kernels::neon

// Convolution forward for the "avx512" table (flags: see src/cpp/CMakeLists.txt):
// layers with few input channels go through the AVX-512 GEMM, columns packed
// from x and the kernel's columns packed into that GEMM's panels once per
// model (conv_pack); every other layer takes the AVX2 kernel, whose packing
// it then uses too.
#include "kernels/conv.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::avx512 {

namespace {
// (A group of at most 16 filters then goes on to the AVX2 GEMM, packed its
// way: see gemm_avx512.cpp.)
bool through_gemm(const ConvGeometry& g) {
  return !planar_forward_applies(g) && packed_columns_applies(g);
}

int64_t group_packed_size(const ConvGeometry& g) {
  return sgemm_packed_b_size(g.col_width(), g.cout_group());
}
}  // namespace

int64_t conv_packed_size(const ConvGeometry& g) {
  return through_gemm(g) ? g.groups * group_packed_size(g) : avx2::conv_packed_size(g);
}

int64_t conv_forward_step(const ConvGeometry& g) {
  return through_gemm(g) ? 1 : avx2::conv_forward_step(g);  // the GEMM takes any range
}

void conv_pack(const ConvGeometry& g, const float* kernel, float* packed) {
  if (!through_gemm(g)) return avx2::conv_pack(g, kernel, packed);
  const int64_t Fg = g.cout_group();
  for (int64_t grp = 0; grp < g.groups; ++grp)
    sgemm_pack_b(false, g.col_width(), Fg, kernel + grp * Fg, g.F,
                 packed + grp * group_packed_size(g));
}

void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel,
                  const float* packed, const float* bias, bool relu, int64_t q_begin,
                  int64_t q_end, float* y) {
  if (!through_gemm(g))
    return avx2::conv_forward(g, group, x, kernel, packed, bias, relu, q_begin, q_end, y);
  conv_forward_packed(sgemm, g, group, x, kernel, packed ? packed + group * group_packed_size(g) : nullptr,
                      bias, relu, q_begin, q_end, y);
}

}  // namespace pyconv::kernels::avx512

// Convolution helpers on one NHWC sample. A "column" matrix has one row per
// output pixel and one column per (kh, kw, c) tap of one group, so that
// convolution becomes col[P, K] x kernel[K, F].
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels/gemm.h"

namespace pyconv::kernels {

struct ConvGeometry {
  int64_t H, W, C;        // input (per sample)
  int64_t OH, OW, F;      // output
  int64_t KH, KW;         // kernel
  int64_t SH, SW;         // strides
  int64_t DH, DW;         // dilation
  int64_t PT, PL;         // padding before (top, left); after is implied by OH/OW
  int64_t groups;
  int64_t cin_group() const { return C / groups; }
  int64_t cout_group() const { return F / groups; }
  int64_t col_width() const { return KH * KW * cin_group(); }
  int64_t out_pixels() const { return OH * OW; }
};

// For output pixels p in [p0, p1), the adjoint of building columns:
// dx[ih, iw, g*Cg + c] += dcol[p - p0, (kh*KW + kw)*Cg + c].
void col2im_nhwc(const ConvGeometry& g, int64_t group, const float* dcol, int64_t p0,
                 int64_t p1, float* dx);

// GemmExtras::pack_a producers that build column panels straight from one
// NHWC sample, so the column matrix is never written out in full.
struct Im2colSource {
  const ConvGeometry* g;
  int64_t group;
  const float* x;
  int64_t first_pixel = 0;  // row i of op(A) is output pixel first_pixel + i
  // Pixels may run on into the next samples: pixel q is pixel q % P of
  // sample q / P, which starts sample_size floats after x.
  int64_t sample_size = 0;
};
// op(A) = columns: rows are output pixels, depth is (kh, kw, c) taps.
void pack_im2col(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                 float* dst);
// op(A) = columns^T: rows are taps, depth is output pixels (the kernel-
// gradient GEMM, dkernel = columns^T dy).
void pack_im2col_taps(const void* source, int64_t i0, int64_t mc, int64_t p0, int64_t kc, int mr,
                      float* dst);

// A convolution as `sgemm` over columns packed straight from x (see
// pack_im2col); arguments as conv_forward below, packed_b (may be null) the
// group's kernel columns as that sgemm's pack_b packed them. The reference
// kernel, and the AVX2 kernel's path for few channels.
void conv_forward_packed(SgemmFn sgemm, const ConvGeometry& g, int64_t group, const float* x,
                         const float* kernel, const float* packed_b, const float* bias,
                         bool relu, int64_t q_begin, int64_t q_end, float* y);

// One group of a batch's convolution for the batch's output pixels
// [q_begin, q_end): pixel q is pixel q % P of sample q / P (P = OH * OW).
// x is the batch's input (samples H * W * C floats apart) and y its output
// (F values per pixel): y[q, group's filters] = conv + bias (bias may be
// null), then ReLU if relu. kernel is the (KH*KW*Cg, F) matrix. A range that
// spans samples lets a kernel prepare its weights once for all of them.
//
// A kernel may read the weights in a layout of its own, prepared once for
// every call (at model load): conv_packed_size(g) is its size in floats (0:
// this kernel reads `kernel` as it is), conv_pack writes it for every group,
// and conv_forward then gets it as `packed` (null: it prepares what it needs
// itself, as for a kernel that changes every call).
//
// conv_forward_step(g): the pixel count (within a sample) that a range
// should start and end on for conv_forward to run at full speed: its tile
// of output pixels (or whole output rows). Any range gives the same values;
// callers that split the pixels among threads cut at these steps.
#define PCV_CONV_FORWARD_DECL                                                                 \
  int64_t conv_packed_size(const ConvGeometry& g);                                            \
  int64_t conv_forward_step(const ConvGeometry& g);                                           \
  void conv_pack(const ConvGeometry& g, const float* kernel, float* packed);                 \
  void conv_forward(const ConvGeometry& g, int64_t group, const float* x, const float* kernel, \
                    const float* packed, const float* bias, bool relu, int64_t q_begin,        \
                    int64_t q_end, float* y);
namespace ref {
PCV_CONV_FORWARD_DECL
}
namespace avx2 {
PCV_CONV_FORWARD_DECL
}
namespace avx512 {
PCV_CONV_FORWARD_DECL
}
namespace neon {
PCV_CONV_FORWARD_DECL
}
#undef PCV_CONV_FORWARD_DECL

// Stride 1, ungrouped, at most 8 filters: the AVX2 forward kernel computes
// these vectorised across output pixels (conv_forward_planar) rather than
// across filters. One group of one sample: x and y are that sample's, and
// [p_begin, p_end) are its pixels.
inline bool planar_forward_applies(const ConvGeometry& g) {
  return g.SH == 1 && g.SW == 1 && g.groups == 1 && g.F <= 8;
}
// Fewer than 4 input channels per group: the x86 kernels convolve through
// the packed GEMM, columns packed from x, where per-tap addressing would cost
// more than the arithmetic it feeds (see conv_avx2.cpp).
inline bool packed_columns_applies(const ConvGeometry& g) { return g.cin_group() < 4; }
namespace avx2 {
// The direct kernels' weights: one group's kernel columns as 16-filter panels
// (kernels/conv_direct_impl.h), which the AVX-512 kernel reads too.
void pack_filter_panels(const ConvGeometry& g, int64_t group, const float* kernel, float* out);
void conv_forward_planar(const ConvGeometry& g, const float* x, const float* kernel,
                         const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y);
}
namespace avx512 {
void conv_forward_planar(const ConvGeometry& g, const float* x, const float* kernel,
                         const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y);
}
// conv_forward's range [q_begin, q_end) through a planar kernel, sample by sample.
template <class Planar>
inline void planar_forward_range(Planar planar, const ConvGeometry& g, const float* x,
                                 const float* kernel, const float* bias, bool relu,
                                 int64_t q_begin, int64_t q_end, float* y) {
  const int64_t P = g.out_pixels(), in_size = g.H * g.W * g.C;
  for (int64_t q = q_begin; q < q_end;) {
    const int64_t n = q / P, p0 = q - n * P, p1 = std::min(P, p0 + q_end - q);
    planar(g, x + n * in_size, kernel, bias, relu, p0, p1, y + n * P * g.F);
    q += p1 - p0;
  }
}

// Kernel gradient of one sample of a stride-1 ungrouped convolution with few
// channels or up to 64 filters, where the column GEMM spends its time packing
// the image's columns (measured 2-4x slower for 10-16 filters, 1.1-1.7x for
// 24-64, about even beyond; benchmarks/bench_conv.py):
// dkernel[kh][kw][c][f] += sum over pixels of x[tap's input pixel][c] * dy[f].
inline bool filter_grad_applies(const ConvGeometry& g) {
  return g.SH == 1 && g.SW == 1 && g.groups == 1 && (g.C <= 8 || g.F <= 64);
}
// The kernel gradient vectorised across filters runs on a GEMM register tile
// of `rows` taps by `cols` filters: the share of the tiles' lanes that hold
// real taps and filters.
inline double filter_tile_use(const ConvGeometry& g, int rows, int cols) {
  const int64_t taps = g.col_width(), F = g.F;
  return static_cast<double>(taps) / static_cast<double>((taps + rows - 1) / rows * rows) *
         static_cast<double>(F) / static_cast<double>((F + cols - 1) / cols * cols);
}
#define PCV_CONV_BACKWARD_FILTER_DECL \
  void conv_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dkernel);
namespace ref {
PCV_CONV_BACKWARD_FILTER_DECL
}
namespace avx2 {
PCV_CONV_BACKWARD_FILTER_DECL
}
namespace avx512 {
PCV_CONV_BACKWARD_FILTER_DECL
}
#undef PCV_CONV_BACKWARD_FILTER_DECL

}  // namespace pyconv::kernels

// Winograd F(4x4, 3x3) transforms on NHWC data, for 3x3 stride-1
// convolutions (dilated too): each 4x4 output tile comes from a 6x6 input
// tile, and the 144 multiplications of its 16 outputs per channel pair
// become 36 (4x fewer; F(2x2, 3x3) saves 2.25x). The 36 products per tile
// are GEMMs over channels, done by sgemm between the two transforms here.
// The interpolation points are 0, +-1, +-2 and infinity. The price is
// rounding: the largest error is about 1e-5 of the largest output at 32-256
// channels (F(2x2, 3x3): 5e-7; both measured against float64). The kernel
// gradient uses the same input transform: its 36 products are GEMMs over
// tiles.
#pragma once
#include <cstdint>

#include "kernels/conv.h"

namespace pyconv::kernels {

constexpr int64_t kWinogradTile = 4;     // outputs per tile side
constexpr int64_t kWinogradInput = 6;    // inputs per tile side
constexpr int64_t kWinogradPoints = 36;  // products per tile and channel pair

// A dilated convolution (dilation D) is D x D interleaved undilated ones, so
// a tile's 4x4 outputs (and its 6x6 inputs) lie D apart. Tiles are numbered
// row-major over D phases x ceil(ceil(OH/D)/4) rows by D phases x
// ceil(ceil(OW/D)/4) columns; with D = 1 that is the plain 4x4 tile grid.
inline int64_t winograd_tiles_per_phase(int64_t out, int64_t dilation) {
  return ((out + dilation - 1) / dilation + kWinogradTile - 1) / kWinogradTile;
}
inline int64_t winograd_tiles_w(const ConvGeometry& g) {
  return g.DW * winograd_tiles_per_phase(g.OW, g.DW);
}
inline int64_t winograd_tiles(const ConvGeometry& g) {
  return g.DH * winograd_tiles_per_phase(g.OH, g.DH) * winograd_tiles_w(g);
}
// The output pixel at tile t's top left.
struct WinogradTileOrigin {
  int64_t oh, ow;
};
inline WinogradTileOrigin winograd_tile_origin(const ConvGeometry& g, int64_t t) {
  const int64_t tw = winograd_tiles_w(g), row = t / tw, col = t % tw;
  const int64_t ph = winograd_tiles_per_phase(g.OH, g.DH);
  const int64_t pw = winograd_tiles_per_phase(g.OW, g.DW);
  return {row / ph + kWinogradTile * g.DH * (row % ph),
          col / pw + kWinogradTile * g.DW * (col % pw)};
}

#define PCV_WINOGRAD_DECLS                                                                  \
  /* v[xi][t - t0][c] = (B^T d B)[xi] of the 6x6 input tile t, for t in [t0, t1), */     \
  /* each point's plane `rows` tiles long (a block may hold several samples' tiles); */  \
  /* zeros: C zeros, read where the tile leaves the image */                                 \
  void winograd_input(const ConvGeometry& g, const float* x, const float* zeros, int64_t t0, \
                      int64_t t1, float* v, int64_t rows);                                   \
  /* y tiles from m[xi][t - t0][f] = (A^T m A), plus bias, then ReLU if relu */              \
  void winograd_output(const ConvGeometry& g, const float* m, const float* bias, bool relu, \
                       int64_t t0, int64_t t1, float* y, int64_t rows);                        \
  /* For the kernel gradient: w[xi][t - t0][f] = (A dy A^T)[xi] of the 4x4 dy tile t; */     \
  /* zeros: F zeros, read where the tile leaves dy */                                        \
  void winograd_grad_output(const ConvGeometry& g, const float* dy, const float* zeros,      \
                            int64_t t0, int64_t t1, float* w, int64_t rows);

namespace ref {
PCV_WINOGRAD_DECLS
}
namespace avx2 {
PCV_WINOGRAD_DECLS
}
namespace avx512 {
PCV_WINOGRAD_DECLS
}
#undef PCV_WINOGRAD_DECLS

// u[xi][c][f] = (G g G^T)[xi] for the (3, 3, C, F) kernel (ISA-neutral: done
// once per call, C * F small transforms).
void winograd_kernel(const ConvGeometry& g, const float* kernel, float* u);

// The kernel gradient from its transform: dkernel[kh][kw][c][f] =
// (G^T p G)[kh][kw] of p[xi][f][c], the sums over tiles of w[xi] x v[xi]
// (dW = G^T [(A dy A^T) . (B^T x B)] G, the adjoint of the forward pass).
void winograd_kernel_grad(const ConvGeometry& g, const float* p, float* dkernel);

}  // namespace pyconv::kernels

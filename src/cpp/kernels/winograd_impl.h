// The Winograd transforms' source, included once per ISA inside that ISA's
// namespace (winograd_ref.cpp, winograd_avx2.cpp). Both loop over channels
// innermost, where they vectorise. The including file provides <algorithm>
// and <limits>.

void winograd_input(const ConvGeometry& g, const float* x, const float* zeros, int64_t t0,
                    int64_t t1, float* v) {
  const int64_t C = g.C, count = t1 - t0;
  for (int64_t t = t0; t < t1; ++t) {
    const WinogradTileOrigin o = winograd_tile_origin(g, t);
    const int64_t h0 = o.oh - g.PT, w0 = o.ow - g.PL;
    const float* d[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const int64_t ih = h0 + i * g.DH, iw = w0 + j * g.DW;
        d[i][j] = ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x + (ih * g.W + iw) * C : zeros;
      }
    float* out = v + (t - t0) * C;  // v[xi] starts every count * C floats
    const int64_t st = count * C;
    // B^T e B written out (no inner loops, so the channel loop vectorises).
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) {
      const float e00 = d[0][0][c], e01 = d[0][1][c], e02 = d[0][2][c], e03 = d[0][3][c];
      const float e10 = d[1][0][c], e11 = d[1][1][c], e12 = d[1][2][c], e13 = d[1][3][c];
      const float e20 = d[2][0][c], e21 = d[2][1][c], e22 = d[2][2][c], e23 = d[2][3][c];
      const float e30 = d[3][0][c], e31 = d[3][1][c], e32 = d[3][2][c], e33 = d[3][3][c];
      // rows: r0 = e0 - e2, r1 = e1 + e2, r2 = e2 - e1, r3 = e1 - e3
      const float r00 = e00 - e20, r01 = e01 - e21, r02 = e02 - e22, r03 = e03 - e23;
      const float r10 = e10 + e20, r11 = e11 + e21, r12 = e12 + e22, r13 = e13 + e23;
      const float r20 = e20 - e10, r21 = e21 - e11, r22 = e22 - e12, r23 = e23 - e13;
      const float r30 = e10 - e30, r31 = e11 - e31, r32 = e12 - e32, r33 = e13 - e33;
      // columns, the same combination
      out[0 * st + c] = r00 - r02, out[1 * st + c] = r01 + r02;
      out[2 * st + c] = r02 - r01, out[3 * st + c] = r01 - r03;
      out[4 * st + c] = r10 - r12, out[5 * st + c] = r11 + r12;
      out[6 * st + c] = r12 - r11, out[7 * st + c] = r11 - r13;
      out[8 * st + c] = r20 - r22, out[9 * st + c] = r21 + r22;
      out[10 * st + c] = r22 - r21, out[11 * st + c] = r21 - r23;
      out[12 * st + c] = r30 - r32, out[13 * st + c] = r31 + r32;
      out[14 * st + c] = r32 - r31, out[15 * st + c] = r31 - r33;
    }
  }
}

void winograd_grad_output(const ConvGeometry& g, const float* dy, const float* zeros, int64_t t0,
                          int64_t t1, float* w) {
  const int64_t F = g.F, count = t1 - t0, st = count * F;
  for (int64_t t = t0; t < t1; ++t) {
    const WinogradTileOrigin o = winograd_tile_origin(g, t);
    const float* d[2][2];
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < 2; ++j) {
        const int64_t oh = o.oh + i * g.DH, ow = o.ow + j * g.DW;
        d[i][j] = oh < g.OH && ow < g.OW ? dy + (oh * g.OW + ow) * F : zeros;
      }
    float* out = w + (t - t0) * F;
    // A e A^T written out: rows r0 = e0, r1 = e0 + e1, r2 = e0 - e1, r3 = -e1,
    // then the same on columns.
#pragma omp simd
    for (int64_t f = 0; f < F; ++f) {
      const float e00 = d[0][0][f], e01 = d[0][1][f], e10 = d[1][0][f], e11 = d[1][1][f];
      const float r00 = e00, r01 = e01, r10 = e00 + e10, r11 = e01 + e11;
      const float r20 = e00 - e10, r21 = e01 - e11, r30 = -e10, r31 = -e11;
      out[0 * st + f] = r00, out[1 * st + f] = r00 + r01;
      out[2 * st + f] = r00 - r01, out[3 * st + f] = -r01;
      out[4 * st + f] = r10, out[5 * st + f] = r10 + r11;
      out[6 * st + f] = r10 - r11, out[7 * st + f] = -r11;
      out[8 * st + f] = r20, out[9 * st + f] = r20 + r21;
      out[10 * st + f] = r20 - r21, out[11 * st + f] = -r21;
      out[12 * st + f] = r30, out[13 * st + f] = r30 + r31;
      out[14 * st + f] = r30 - r31, out[15 * st + f] = -r31;
    }
  }
}

namespace {

// (A^T m A) + bias for output channel f of one tile, written out (no inner
// loops or aggregates, so the caller's channel loop vectorises): outputs
// o00 o01 / o10 o11.
#define PCV_WINOGRAD_OUTPUT_TILE(in, st, f, b)                                               \
  const float m00 = in[0 * st + f], m01 = in[1 * st + f], m02 = in[2 * st + f];             \
  const float m03 = in[3 * st + f], m10 = in[4 * st + f], m11 = in[5 * st + f];             \
  const float m12 = in[6 * st + f], m13 = in[7 * st + f], m20 = in[8 * st + f];             \
  const float m21 = in[9 * st + f], m22 = in[10 * st + f], m23 = in[11 * st + f];           \
  const float m30 = in[12 * st + f], m31 = in[13 * st + f], m32 = in[14 * st + f];          \
  const float m33 = in[15 * st + f];                                                        \
  /* rows: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3 */                                          \
  const float s00 = m00 + m10 + m20, s01 = m01 + m11 + m21, s02 = m02 + m12 + m22;          \
  const float s03 = m03 + m13 + m23, s10 = m10 - m20 - m30, s11 = m11 - m21 - m31;          \
  const float s12 = m12 - m22 - m32, s13 = m13 - m23 - m33;                                 \
  const float o00 = s00 + s01 + s02 + (b), o01 = s01 - s02 - s03 + (b);                     \
  const float o10 = s10 + s11 + s12 + (b), o11 = s11 - s12 - s13 + (b);

// A whole 2x2 tile, all channels; its right-hand outputs are `right` floats
// on. kBias is a template argument so the loop has no conditional load.
template <bool kBias>
void output_full_tile(const float* in, int64_t st, const float* bias, float floor, int64_t F,
                      int64_t right, float* y00, float* y10) {
#pragma omp simd
  for (int64_t f = 0; f < F; ++f) {
    PCV_WINOGRAD_OUTPUT_TILE(in, st, f, kBias ? bias[f] : 0.f)
    y00[f] = std::max(o00, floor);
    y00[right + f] = std::max(o01, floor);
    y10[f] = std::max(o10, floor);
    y10[right + f] = std::max(o11, floor);
  }
}

}  // namespace

void winograd_output(const ConvGeometry& g, const float* m, const float* bias, bool relu,
                     int64_t t0, int64_t t1, float* y) {
  const int64_t F = g.F, count = t1 - t0, stride = count * F;
  const int64_t right = g.DW * F, down = g.DH * g.OW * F;  // to the tile's other outputs
  const float floor = relu ? 0.f : -std::numeric_limits<float>::infinity();
  for (int64_t t = t0; t < t1; ++t) {
    const WinogradTileOrigin o = winograd_tile_origin(g, t);
    if (o.oh >= g.OH || o.ow >= g.OW) continue;  // a phase's spare tile, all outside
    const float* in = m + (t - t0) * F;
    float* y00 = y + (o.oh * g.OW + o.ow) * F;
    if (o.oh + g.DH < g.OH && o.ow + g.DW < g.OW) {  // a whole 2x2 tile
      if (bias)
        output_full_tile<true>(in, stride, bias, floor, F, right, y00, y00 + down);
      else
        output_full_tile<false>(in, stride, bias, floor, F, right, y00, y00 + down);
      continue;
    }
    for (int64_t f = 0; f < F; ++f) {  // a tile cut by the bottom or right edge
      PCV_WINOGRAD_OUTPUT_TILE(in, stride, f, bias ? bias[f] : 0.f)
      const float out[2][2] = {{o00, o01}, {o10, o11}};
      for (int i = 0; i < 2 && o.oh + i * g.DH < g.OH; ++i)
        for (int j = 0; j < 2 && o.ow + j * g.DW < g.OW; ++j)
          y00[i * down + j * right + f] = std::max(out[i][j], floor);
    }
  }
}

#undef PCV_WINOGRAD_OUTPUT_TILE

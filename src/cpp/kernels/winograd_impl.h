// The Winograd F(4x4, 3x3) transforms' source, included once per ISA inside
// that ISA's namespace (winograd_ref.cpp, winograd_avx2.cpp). A 2-D
// transform is two passes of 1-D transforms on named scalars, each a loop
// over channels (innermost, so it vectorises): the input and output
// transforms run their passes as separate loops, the first pass's values
// through a small buffer in L1; the output gradient's (16 values in) runs
// both in one loop. The including file provides <algorithm>, <limits> and
// kernels/scratch.h.

// The 1-D transforms. Each declares p0, p1, ... (p is a name prefix).
// B^T x, 6 -> 6 (the input transform):
#define PCV_WG_IN(p, x0, x1, x2, x3, x4, x5)                 \
  const float p##0 = 4.f * x0 - 5.f * x2 + x4;              \
  const float p##1 = (x3 + x4) - 4.f * (x1 + x2);           \
  const float p##2 = (x4 - x3) + 4.f * (x1 - x2);           \
  const float p##3 = (x4 - x2) + 2.f * (x3 - x1);           \
  const float p##4 = (x4 - x2) - 2.f * (x3 - x1);           \
  const float p##5 = 4.f * x1 - 5.f * x3 + x5;
// A^T m, 6 -> 4 (the output transform):
#define PCV_WG_OUT(p, m0, m1, m2, m3, m4, m5)                \
  const float p##0 = m0 + (m1 + m2) + (m3 + m4);            \
  const float p##1 = (m1 - m2) + 2.f * (m3 - m4);           \
  const float p##2 = (m1 + m2) + 4.f * (m3 + m4);           \
  const float p##3 = (m1 - m2) + 8.f * (m3 - m4) + m5;
// A e, 4 -> 6 (the output gradient's transform, the adjoint of A^T):
#define PCV_WG_GRAD(p, e0, e1, e2, e3)                       \
  const float p##0 = e0;                                    \
  const float p##1 = (e0 + e2) + (e1 + e3);                 \
  const float p##2 = (e0 + e2) - (e1 + e3);                 \
  const float p##3 = (e0 + 4.f * e2) + 2.f * (e1 + 4.f * e3); \
  const float p##4 = (e0 + 4.f * e2) - 2.f * (e1 + 4.f * e3); \
  const float p##5 = e3;

// p{i}{0..3} = src[i][0..3][c] for row i of a tile's pointers.
#define PCV_WG_LOAD4(p, i, src, c)                                                         \
  const float p##i##0 = src[i][0][c], p##i##1 = src[i][1][c], p##i##2 = src[i][2][c];      \
  const float p##i##3 = src[i][3][c];
// Row k of the 6x6 transform, points 6k .. 6k + 5, each st floats apart.
#define PCV_WG_STORE6(dst, st, p, k)                                                       \
  dst[(6 * k + 0) * st + c] = p##k##0, dst[(6 * k + 1) * st + c] = p##k##1;                \
  dst[(6 * k + 2) * st + c] = p##k##2, dst[(6 * k + 3) * st + c] = p##k##3;                \
  dst[(6 * k + 4) * st + c] = p##k##4, dst[(6 * k + 5) * st + c] = p##k##5;

namespace {
thread_local Scratch<float> t_columns;  // winograd_input's first pass, 36 x C

// One pass of the input transform over channels [0, C): B^T applied to the
// six values src[0..5][c], result i at dst[i * step + c].
inline void input_pass(const float* const src[6], int64_t C, float* dst, int64_t step) {
  const float *x0 = src[0], *x1 = src[1], *x2 = src[2], *x3 = src[3], *x4 = src[4],
              *x5 = src[5];
#pragma omp simd
  for (int64_t c = 0; c < C; ++c) {
    PCV_WG_IN(q, x0[c], x1[c], x2[c], x3[c], x4[c], x5[c])
    dst[c] = q0, dst[step + c] = q1, dst[2 * step + c] = q2;
    dst[3 * step + c] = q3, dst[4 * step + c] = q4, dst[5 * step + c] = q5;
  }
}
}  // namespace

// Two passes of six 1-D transforms, the first pass's 36 x C values through
// a buffer in L1: one pass over all 36 kept about as many values live as
// there are vector registers, and the compiler spilled them at every step.
// Each value is the same expression as in one pass: the same bits.
void winograd_input(const ConvGeometry& g, const float* x, const float* zeros, int64_t t0,
                    int64_t t1, float* v, int64_t rows) {
  const int64_t C = g.C, st = rows * C;  // v[xi] starts every st floats
  float* r = t_columns.get(static_cast<size_t>(36 * C));  // r{j}{k} at r[(6j + k) C]
  for (int64_t t = t0; t < t1; ++t) {
    const WinogradTileOrigin o = winograd_tile_origin(g, t);
    const int64_t h0 = o.oh - g.PT, w0 = o.ow - g.PL;
    const float* column[6][6];  // column[j][i]: the tile's input (i, j)
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) {
        const int64_t ih = h0 + i * g.DH, iw = w0 + j * g.DW;
        column[j][i] =
            ih >= 0 && ih < g.H && iw >= 0 && iw < g.W ? x + (ih * g.W + iw) * C : zeros;
      }
    for (int j = 0; j < 6; ++j) input_pass(column[j], C, r + 6 * j * C, C);  // down column j
    float* out = v + (t - t0) * C;
    for (int k = 0; k < 6; ++k) {  // along row k: points 6k + l
      const float* row[6] = {r + k * C,        r + (6 + k) * C,  r + (12 + k) * C,
                             r + (18 + k) * C, r + (24 + k) * C, r + (30 + k) * C};
      input_pass(row, C, out + 6 * k * st, st);
    }
  }
}

void winograd_grad_output(const ConvGeometry& g, const float* dy, const float* zeros, int64_t t0,
                          int64_t t1, float* w, int64_t rows) {
  const int64_t F = g.F, st = rows * F;
  for (int64_t t = t0; t < t1; ++t) {
    const WinogradTileOrigin o = winograd_tile_origin(g, t);
    const float* d[4][4];
    for (int i = 0; i < 4; ++i)
      for (int j = 0; j < 4; ++j) {
        const int64_t oh = o.oh + i * g.DH, ow = o.ow + j * g.DW;
        d[i][j] = oh < g.OH && ow < g.OW ? dy + (oh * g.OW + ow) * F : zeros;
      }
    float* out = w + (t - t0) * F;
#pragma omp simd
    for (int64_t c = 0; c < F; ++c) {
      PCV_WG_LOAD4(e, 0, d, c) PCV_WG_LOAD4(e, 1, d, c)
      PCV_WG_LOAD4(e, 2, d, c) PCV_WG_LOAD4(e, 3, d, c)
      // down each column j: r{j}{k}
      PCV_WG_GRAD(r0, e00, e10, e20, e30) PCV_WG_GRAD(r1, e01, e11, e21, e31)
      PCV_WG_GRAD(r2, e02, e12, e22, e32) PCV_WG_GRAD(r3, e03, e13, e23, e33)
      // along each row k: u{k}{l}
      PCV_WG_GRAD(u0, r00, r10, r20, r30) PCV_WG_GRAD(u1, r01, r11, r21, r31)
      PCV_WG_GRAD(u2, r02, r12, r22, r32) PCV_WG_GRAD(u3, r03, r13, r23, r33)
      PCV_WG_GRAD(u4, r04, r14, r24, r34) PCV_WG_GRAD(u5, r05, r15, r25, r35)
      PCV_WG_STORE6(out, st, u, 0) PCV_WG_STORE6(out, st, u, 1) PCV_WG_STORE6(out, st, u, 2)
      PCV_WG_STORE6(out, st, u, 3) PCV_WG_STORE6(out, st, u, 4) PCV_WG_STORE6(out, st, u, 5)
    }
  }
}

namespace {

// One tile's 4x4 outputs, all channels: (A^T m A) + bias, at most floor.
// Output (a, b) goes to y + a * down + b * right. kBias is a template
// argument so the loop has no conditional load. Two passes, as
// winograd_input's, the first pass's 24 x F values through `s`.
template <bool kBias>
void output_tile(const float* in, int64_t st, const float* bias, float floor, int64_t F,
                 int64_t right, int64_t down, float* s, float* y) {
  for (int l = 0; l < 6; ++l) {  // down each column l: s{l}{a}, at s[(4l + a) F]
    const float *m0 = in + l * st, *m1 = in + (6 + l) * st, *m2 = in + (12 + l) * st,
                *m3 = in + (18 + l) * st, *m4 = in + (24 + l) * st, *m5 = in + (30 + l) * st;
    float* sl = s + 4 * l * F;
#pragma omp simd
    for (int64_t f = 0; f < F; ++f) {
      PCV_WG_OUT(q, m0[f], m1[f], m2[f], m3[f], m4[f], m5[f])
      sl[f] = q0, sl[F + f] = q1, sl[2 * F + f] = q2, sl[3 * F + f] = q3;
    }
  }
  for (int a = 0; a < 4; ++a) {  // along each output row a: o{a}{b}
    const float *s0 = s + a * F, *s1 = s + (4 + a) * F, *s2 = s + (8 + a) * F,
                *s3 = s + (12 + a) * F, *s4 = s + (16 + a) * F, *s5 = s + (20 + a) * F;
    float* ya = y + a * down;
#pragma omp simd
    for (int64_t f = 0; f < F; ++f) {
      const float b = kBias ? bias[f] : 0.f;
      PCV_WG_OUT(q, s0[f], s1[f], s2[f], s3[f], s4[f], s5[f])
      ya[f] = std::max(q0 + b, floor);
      ya[right + f] = std::max(q1 + b, floor);
      ya[2 * right + f] = std::max(q2 + b, floor);
      ya[3 * right + f] = std::max(q3 + b, floor);
    }
  }
}

thread_local Scratch<float> t_output_rows;  // output_tile's first pass, 24 x F
thread_local Scratch<float> t_edge_tile;  // a tile cut by the image's edge

}  // namespace

void winograd_output(const ConvGeometry& g, const float* m, const float* bias, bool relu,
                     int64_t t0, int64_t t1, float* y, int64_t rows) {
  const int64_t F = g.F, st = rows * F;
  const int64_t right = g.DW * F, down = g.DH * g.OW * F;  // to the tile's other outputs
  const float floor = relu ? 0.f : -std::numeric_limits<float>::infinity();
  const auto tile = bias ? output_tile<true> : output_tile<false>;
  float* s = t_output_rows.get(static_cast<size_t>(24 * F));
  for (int64_t t = t0; t < t1; ++t) {
    const WinogradTileOrigin o = winograd_tile_origin(g, t);
    if (o.oh >= g.OH || o.ow >= g.OW) continue;  // a phase's spare tile, all outside
    const float* in = m + (t - t0) * F;
    float* y00 = y + (o.oh * g.OW + o.ow) * F;
    const int64_t rows = std::min<int64_t>(4, (g.OH - o.oh + g.DH - 1) / g.DH);
    const int64_t cols = std::min<int64_t>(4, (g.OW - o.ow + g.DW - 1) / g.DW);
    if (rows == 4 && cols == 4) {
      tile(in, st, bias, floor, F, right, down, s, y00);
      continue;
    }
    // Cut by the bottom or right edge: the whole tile into scratch, then the
    // outputs inside the image.
    float* scratch = t_edge_tile.get(16 * F);
    tile(in, st, bias, floor, F, F, 4 * F, s, scratch);
    for (int64_t a = 0; a < rows; ++a)
      for (int64_t b = 0; b < cols; ++b)
        std::copy(scratch + (4 * a + b) * F, scratch + (4 * a + b + 1) * F,
                  y00 + a * down + b * right);
  }
}

#undef PCV_WG_IN
#undef PCV_WG_OUT
#undef PCV_WG_GRAD
#undef PCV_WG_LOAD4
#undef PCV_WG_STORE6

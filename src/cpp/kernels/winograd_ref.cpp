// The Winograd transforms built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>
#include <vector>

#include "kernels/winograd.h"

namespace pyconv::kernels::ref {

#include "kernels/scratch.h"
#include "kernels/winograd_impl.h"
}  // namespace pyconv::kernels::ref

namespace pyconv::kernels {

namespace {

// G (6 x 3) of F(4x4, 3x3), for the interpolation points 0, 1, -1, 2, -2
// and infinity: u = G g G^T, and the kernel gradient is G^T p G.
constexpr float kG[6][3] = {{1.f / 4, 0.f, 0.f},
                            {-1.f / 6, -1.f / 6, -1.f / 6},
                            {-1.f / 6, 1.f / 6, -1.f / 6},
                            {1.f / 24, 1.f / 12, 1.f / 6},
                            {1.f / 24, -1.f / 12, 1.f / 6},
                            {0.f, 0.f, 1.f}};

// out[r][0, n) = sum over s of m(r, s) * in[s][0, n): rows of n floats
// combined by a small matrix, the loop over n innermost, where it vectorises.
template <int R, int S, class Matrix>
void combine_rows(Matrix m, const float* const (&in)[S], float* const (&out)[R], int64_t n) {
  for (int r = 0; r < R; ++r) {
    float w[S];
    for (int s = 0; s < S; ++s) w[s] = m(r, s);
    float* o = out[r];
#pragma omp simd
    for (int64_t i = 0; i < n; ++i) {
      float sum = 0.f;
      for (int s = 0; s < S; ++s) sum += w[s] * in[s][i];
      o[i] = sum;
    }
  }
}

thread_local std::vector<float> t_rows;  // the half-transformed rows

}  // namespace

void winograd_kernel(const ConvGeometry& g, const float* kernel, float* u) {
  const int64_t C = g.C, F = g.F, tap = C * F, point = C * F;  // strides in kernel and u
  t_rows.resize(18 * F);
  float* a = t_rows.data();  // a[k][j][f] = (G g)[k][j]
  const auto G = [](int r, int s) { return kG[r][s]; };
  for (int64_t c = 0; c < C; ++c) {
    const float* k = kernel + c * F;
    for (int j = 0; j < 3; ++j)  // down kernel column j
      combine_rows<6, 3>(G, {k + j * tap, k + (3 + j) * tap, k + (6 + j) * tap},
                         {a + j * F, a + (3 + j) * F, a + (6 + j) * F, a + (9 + j) * F,
                          a + (12 + j) * F, a + (15 + j) * F},
                         F);
    float* o = u + c * F;
    for (int r = 0; r < 6; ++r)  // along row r
      combine_rows<6, 3>(G, {a + 3 * r * F, a + (3 * r + 1) * F, a + (3 * r + 2) * F},
                         {o + 6 * r * point, o + (6 * r + 1) * point, o + (6 * r + 2) * point,
                          o + (6 * r + 3) * point, o + (6 * r + 4) * point,
                          o + (6 * r + 5) * point},
                         F);
  }
}

void winograd_kernel_grad(const ConvGeometry& g, const float* p, float* dkernel) {
  const int64_t C = g.C, F = g.F, point = F * C, tap = C * F;  // strides in p and dkernel
  t_rows.resize(27 * C);
  float* a = t_rows.data();        // a[kh][l][c] = (G^T p)[kh][l], 18 rows
  float* d = a + 18 * C;           // d[kh][kw][c] = (G^T p G)[kh][kw], 9 rows
  const auto GT = [](int r, int s) { return kG[s][r]; };
  for (int64_t f = 0; f < F; ++f) {
    const float* q = p + f * C;
    for (int l = 0; l < 6; ++l)  // down column l
      combine_rows<3, 6>(GT,
                         {q + l * point, q + (6 + l) * point, q + (12 + l) * point,
                          q + (18 + l) * point, q + (24 + l) * point, q + (30 + l) * point},
                         {a + l * C, a + (6 + l) * C, a + (12 + l) * C}, C);
    for (int kh = 0; kh < 3; ++kh)  // along row kh
      combine_rows<3, 6>(GT,
                         {a + 6 * kh * C, a + (6 * kh + 1) * C, a + (6 * kh + 2) * C,
                          a + (6 * kh + 3) * C, a + (6 * kh + 4) * C, a + (6 * kh + 5) * C},
                         {d + 3 * kh * C, d + (3 * kh + 1) * C, d + (3 * kh + 2) * C}, C);
    for (int t = 0; t < 9; ++t)
      for (int64_t c = 0; c < C; ++c) dkernel[t * tap + c * F + f] = d[t * C + c];
  }
}

}  // namespace pyconv::kernels

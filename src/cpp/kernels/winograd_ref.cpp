// The Winograd transforms built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <limits>

#include "kernels/winograd.h"

namespace pyconv::kernels::ref {
#include "kernels/winograd_impl.h"
}  // namespace pyconv::kernels::ref

namespace pyconv::kernels {

void winograd_kernel(const ConvGeometry& g, const float* kernel, float* u) {
  const int64_t C = g.C, F = g.F, tap = C * F, point = C * F;  // strides in kernel and u
  for (int64_t c = 0; c < C; ++c) {
    const float* k = kernel + c * F;
    float* o = u + c * F;
    // G k G^T written out, filters innermost, so the loop vectorises.
#pragma omp simd
    for (int64_t f = 0; f < F; ++f) {
      const float k00 = k[0 * tap + f], k01 = k[1 * tap + f], k02 = k[2 * tap + f];
      const float k10 = k[3 * tap + f], k11 = k[4 * tap + f], k12 = k[5 * tap + f];
      const float k20 = k[6 * tap + f], k21 = k[7 * tap + f], k22 = k[8 * tap + f];
      // rows of G k: a0 = k0, a1 = (k0 + k1 + k2) / 2, a2 = (k0 - k1 + k2) / 2, a3 = k2
      const float a00 = k00, a01 = k01, a02 = k02;
      const float a10 = 0.5f * (k00 + k10 + k20), a11 = 0.5f * (k01 + k11 + k21);
      const float a12 = 0.5f * (k02 + k12 + k22);
      const float a20 = 0.5f * (k00 - k10 + k20), a21 = 0.5f * (k01 - k11 + k21);
      const float a22 = 0.5f * (k02 - k12 + k22);
      const float a30 = k20, a31 = k21, a32 = k22;
      // columns, the same combination
      o[0 * point + f] = a00;
      o[1 * point + f] = 0.5f * (a00 + a01 + a02);
      o[2 * point + f] = 0.5f * (a00 - a01 + a02);
      o[3 * point + f] = a02;
      o[4 * point + f] = a10;
      o[5 * point + f] = 0.5f * (a10 + a11 + a12);
      o[6 * point + f] = 0.5f * (a10 - a11 + a12);
      o[7 * point + f] = a12;
      o[8 * point + f] = a20;
      o[9 * point + f] = 0.5f * (a20 + a21 + a22);
      o[10 * point + f] = 0.5f * (a20 - a21 + a22);
      o[11 * point + f] = a22;
      o[12 * point + f] = a30;
      o[13 * point + f] = 0.5f * (a30 + a31 + a32);
      o[14 * point + f] = 0.5f * (a30 - a31 + a32);
      o[15 * point + f] = a32;
    }
  }
}

void winograd_kernel_grad(const ConvGeometry& g, const float* p, float* dkernel) {
  const int64_t C = g.C, F = g.F, point = F * C, tap = C * F;  // strides in p and dkernel
  for (int64_t f = 0; f < F; ++f)
    for (int64_t c = 0; c < C; ++c) {
      const float* q = p + f * C + c;
      float m[4][4];
      for (int xi = 0; xi < 16; ++xi) m[xi / 4][xi % 4] = q[xi * point];
      // G^T m G: rows first, a0 = m0 + (m1 + m2) / 2, a1 = (m1 - m2) / 2,
      // a2 = (m1 + m2) / 2 + m3; then the same on columns.
      float a[3][4];
      for (int j = 0; j < 4; ++j) {
        a[0][j] = m[0][j] + 0.5f * (m[1][j] + m[2][j]);
        a[1][j] = 0.5f * (m[1][j] - m[2][j]);
        a[2][j] = 0.5f * (m[1][j] + m[2][j]) + m[3][j];
      }
      float* out = dkernel + c * F + f;
      for (int i = 0; i < 3; ++i) {
        out[(i * 3 + 0) * tap] = a[i][0] + 0.5f * (a[i][1] + a[i][2]);
        out[(i * 3 + 1) * tap] = 0.5f * (a[i][1] - a[i][2]);
        out[(i * 3 + 2) * tap] = 0.5f * (a[i][1] + a[i][2]) + a[i][3];
      }
    }
}

}  // namespace pyconv::kernels

// The Winograd transforms built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <limits>

#include "kernels/winograd.h"

namespace pyconv::kernels::ref {
#include "kernels/winograd_impl.h"
}  // namespace pyconv::kernels::ref

namespace pyconv::kernels {

void winograd_kernel(const ConvGeometry& g, const float* kernel, float* u) {
  const int64_t C = g.C, F = g.F;
  for (int64_t c = 0; c < C; ++c)
    for (int64_t f = 0; f < F; ++f) {
      float k[3][3], a[4][3];
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) k[i][j] = kernel[((i * 3 + j) * C + c) * F + f];
      for (int j = 0; j < 3; ++j) {  // G k: rows
        a[0][j] = k[0][j];
        a[1][j] = 0.5f * (k[0][j] + k[1][j] + k[2][j]);
        a[2][j] = 0.5f * (k[0][j] - k[1][j] + k[2][j]);
        a[3][j] = k[2][j];
      }
      for (int i = 0; i < 4; ++i) {  // (G k) G^T: columns
        const float r[4] = {a[i][0], 0.5f * (a[i][0] + a[i][1] + a[i][2]),
                            0.5f * (a[i][0] - a[i][1] + a[i][2]), a[i][2]};
        for (int j = 0; j < 4; ++j) u[((i * 4 + j) * C + c) * F + f] = r[j];
      }
    }
}

}  // namespace pyconv::kernels

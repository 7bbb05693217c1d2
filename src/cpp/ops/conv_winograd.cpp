#include "ops/conv_winograd.h"

#include <algorithm>

#include "core/tensor.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "kernels/winograd.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace pyconv::ops {

using kernels::ConvGeometry;
using kernels::kWinogradPoints;

bool winograd_applies(const ConvGeometry& g) {
  return g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.DH == 1 && g.DW == 1 &&
         g.groups == 1 && g.C >= 16 && g.F >= 16;
}

namespace {
// Per-thread transform buffers, reused across calls.
thread_local Tensor t_v, t_m;
thread_local Tensor t_u, t_zeros;  // used by the calling thread only
}  // namespace

void winograd_forward(const ConvGeometry& g, int64_t N, const float* x, const float* kernel,
                      const float* bias, bool relu, float* y, int threads) {
  const int64_t C = g.C, F = g.F, T = kernels::winograd_tiles(g);
  t_u.resize({kWinogradPoints, C, F});
  kernels::winograd_kernel(g, kernel, t_u.data());
  t_zeros.resize({C});
  t_zeros.zero();
  const float* u = t_u.data();
  const float* zeros = t_zeros.data();
  // Tiles per block: the block's transforms (16 x tiles x (C + F) floats)
  // stay within about 1 MB (L2) between the three steps.
  // A small batch is split into at least as many tile blocks as threads.
  const int nt = threads_for(N * T * kWinogradPoints * C * F, threads);
  const int64_t fits = std::max<int64_t>(6, (int64_t{1} << 18) / (kWinogradPoints * (C + F)));
  const int64_t block = std::min(fits, (N * T + nt - 1) / nt);
  const int64_t blocks = (T + block - 1) / block, tasks = N * blocks;
  const kernels::KernelTable& kt = kernels::active();
  const int64_t in_size = g.H * g.W * C, out_size = g.OH * g.OW * F;
#pragma omp parallel num_threads(nt) if (nt > 1)
  {
    t_v.resize({kWinogradPoints, block, C});
    t_m.resize({kWinogradPoints, block, F});
#pragma omp for schedule(static)
    for (int64_t task = 0; task < tasks; ++task) {
      const int64_t n = task / blocks, t0 = (task % blocks) * block, t1 = std::min(T, t0 + block);
      const int64_t count = t1 - t0;
      float* v = t_v.data();
      float* m = t_m.data();
      kt.winograd_input(g, x + n * in_size, zeros, t0, t1, v);
      for (int64_t xi = 0; xi < kWinogradPoints; ++xi)
        kt.sgemm(false, false, count, F, C, 1.f, v + xi * count * C, C, u + xi * C * F, F, 0.f,
                 m + xi * count * F, F, 1, nullptr);
      kt.winograd_output(g, m, bias, relu, t0, t1, y + n * out_size);
    }
  }
}

}  // namespace pyconv::ops

#include "ops/conv_winograd.h"

#include <algorithm>

#include "core/tensor.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "kernels/winograd.h"

namespace pyconv::ops {

using kernels::ConvGeometry;
using kernels::kWinogradPoints;

bool winograd_applies(const ConvGeometry& g) {
  return g.KH == 3 && g.KW == 3 && g.SH == 1 && g.SW == 1 && g.groups == 1 && g.C >= 16 && g.F >= 16;
}

namespace {
// Per-thread transform buffers, reused across calls.
thread_local Tensor t_v, t_m;
thread_local Tensor t_u, t_zeros, t_partials;  // used by the calling thread only

// How the N x T tiles are cut into tasks of `block` tiles of one sample.
struct TilePlan {
  int threads;
  int64_t block, blocks, tasks;  // blocks per sample; tasks = N * blocks
};

// Tiles per block: the block's transforms (36 x tiles x (C + F) floats)
// stay within about 1 MB (L2) between the steps. A small batch is split
// into at least as many tile blocks as threads.
TilePlan plan_tiles(const ConvGeometry& g, int64_t N, int threads) {
  const int64_t C = g.C, F = g.F, T = kernels::winograd_tiles(g);
  TilePlan p;
  p.threads = threads_for(N * T * kWinogradPoints * C * F, threads);
  const int64_t fits = std::max<int64_t>(6, (int64_t{1} << 18) / (kWinogradPoints * (C + F)));
  p.block = std::min(fits, (N * T + p.threads - 1) / p.threads);
  p.blocks = (T + p.block - 1) / p.block;
  p.tasks = N * p.blocks;
  return p;
}

// Calls body(slot, n, t0, t1, v, m) for every block [t0, t1) of sample n's
// tiles, in parallel, with the running thread's transform buffers v (36 x
// block x C) and m (36 x block x F). kClaim: blocks claimed one at a time,
// so a core slowed by other work on the machine takes fewer (slot is 0);
// else plan.threads slices of consecutive blocks, slot being the slice: for
// bodies that sum into per-slot partials, which must not depend on timing.
template <bool kClaim, class Body>
void for_each_tile_block(const ConvGeometry& g, const TilePlan& plan, Body body) {
  const int64_t T = kernels::winograd_tiles(g);
  auto run = [&](int64_t slot, int64_t task) {
    t_v.resize({kWinogradPoints, plan.block, g.C});
    t_m.resize({kWinogradPoints, plan.block, g.F});
    const int64_t n = task / plan.blocks, t0 = (task % plan.blocks) * plan.block;
    body(slot, n, t0, std::min(T, t0 + plan.block), t_v.data(), t_m.data());
  };
  if (kClaim) {
    parallel_for(plan.threads, plan.tasks, [&](int64_t task) { run(0, task); }, /*dynamic=*/true);
  } else {
    parallel_slices(plan.threads, plan.tasks, [&](int64_t slot, int64_t lo, int64_t hi) {
      for (int64_t task = lo; task < hi; ++task) run(slot, task);
    });
  }
}

const float* zeros(int64_t n) {
  t_zeros.resize({n});
  t_zeros.zero();
  return t_zeros.data();
}

}  // namespace

void winograd_transform_kernel(const ConvGeometry& g, const float* kernel, Tensor& u) {
  u.resize({kWinogradPoints, g.C, g.F});
  kernels::winograd_kernel(g, kernel, u.data());
}

void winograd_forward(const ConvGeometry& g, int64_t N, const float* x, const float* kernel,
                      const Tensor* transformed, const float* bias, bool relu, float* y,
                      int threads) {
  const int64_t C = g.C, F = g.F;
  if (!transformed) {
    winograd_transform_kernel(g, kernel, t_u);
    transformed = &t_u;
  }
  const float* u = transformed->data();
  const float* zero_c = zeros(C);
  const kernels::KernelTable& kt = kernels::active();
  const int64_t in_size = g.H * g.W * C, out_size = g.OH * g.OW * F;
  for_each_tile_block<true>(g, plan_tiles(g, N, threads),
                      [&](int64_t, int64_t n, int64_t t0, int64_t t1, float* v, float* m) {
    const int64_t count = t1 - t0;
    kt.winograd_input(g, x + n * in_size, zero_c, t0, t1, v);
    for (int64_t xi = 0; xi < kWinogradPoints; ++xi)
      kt.sgemm(false, false, count, F, C, 1.f, v + xi * count * C, C, u + xi * C * F, F, 0.f,
               m + xi * count * F, F, 1, nullptr);
    kt.winograd_output(g, m, bias, relu, t0, t1, y + n * out_size);
  });
}

void winograd_backward_filter(const ConvGeometry& g, int64_t N, const float* x, const float* dy,
                              float* dkernel, int threads) {
  const int64_t C = g.C, F = g.F, point = F * C;
  const float* zero = zeros(std::max(C, F));
  const TilePlan plan = plan_tiles(g, N, threads);
  // Each slice of tiles sums its products into its own p[xi][f][c].
  t_partials.resize({plan.threads, kWinogradPoints, F, C});
  t_partials.zero();
  float* partials = t_partials.data();
  const kernels::KernelTable& kt = kernels::active();
  const int64_t in_size = g.H * g.W * C, out_size = g.OH * g.OW * F;
  auto body = [&](int64_t slot, int64_t n, int64_t t0, int64_t t1, float* v, float* w) {
    const int64_t count = t1 - t0;
    float* p = partials + slot * kWinogradPoints * point;
    kt.winograd_input(g, x + n * in_size, zero, t0, t1, v);
    kt.winograd_grad_output(g, dy + n * out_size, zero, t0, t1, w);
    // p[xi] += w[xi]^T v[xi]: (F x tiles) (tiles x C)
    for (int64_t xi = 0; xi < kWinogradPoints; ++xi)
      kt.sgemm(true, false, F, C, count, 1.f, w + xi * count * F, F, v + xi * count * C, C,
               1.f, p + xi * point, C, 1, nullptr);
  };
  for_each_tile_block<false>(g, plan, body);
  for (int t = 1; t < plan.threads; ++t) {
    const float* part = partials + t * kWinogradPoints * point;
    for (int64_t i = 0; i < kWinogradPoints * point; ++i) partials[i] += part[i];
  }
  kernels::winograd_kernel_grad(g, partials, dkernel);
}

}  // namespace pyconv::ops

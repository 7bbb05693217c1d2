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
thread_local Tensor t_u, t_zeros, t_partials, t_sums;  // used by the calling thread only

// How the N x T tiles (sample 0's, then sample 1's, ...) are cut into tasks
// of `block` consecutive tiles: a block may hold several samples' tiles, so
// that small images (9 tiles for 11x11 outputs) still make GEMMs of many rows.
struct TilePlan {
  int threads;
  int64_t tiles, total, block, tasks;  // per sample, in all (N x tiles); tasks = ceil(total / block)
};

// Tiles per block: the block's transforms (36 x tiles x (C + F) floats)
// stay within about 1 MB (L2) between the steps. A small batch is split
// into at least as many tile blocks as threads.
TilePlan plan_tiles(const ConvGeometry& g, int64_t N, int threads) {
  const int64_t C = g.C, F = g.F, T = kernels::winograd_tiles(g), total = N * T;
  TilePlan p;
  p.threads = threads_for(total * kWinogradPoints * C * F, threads);
  p.tiles = T;
  p.total = total;
  const int64_t fits = std::max<int64_t>(6, (int64_t{1} << 18) / (kWinogradPoints * (C + F)));
  p.block = std::min(fits, (total + p.threads - 1) / p.threads);
  p.tasks = (total + p.block - 1) / p.block;
  return p;
}

// Calls body(slot, q0, q1, v, m) for every block [q0, q1) of the N x T
// tiles, in parallel, with the running thread's transform buffers v (36 x
// block x C) and m (36 x block x F). kClaim: blocks claimed one at a time,
// so a core slowed by other work on the machine takes fewer (slot is 0);
// else plan.threads slices of consecutive blocks, slot being the slice: for
// bodies that sum into per-slot partials, which must not depend on timing.
template <bool kClaim, class Body>
void for_each_tile_block(const ConvGeometry& g, const TilePlan& plan, Body body) {
  auto run = [&](int64_t slot, int64_t task) {
    t_v.resize({kWinogradPoints, plan.block, g.C});
    t_m.resize({kWinogradPoints, plan.block, g.F});
    const int64_t q0 = task * plan.block;
    body(slot, q0, std::min(plan.total, q0 + plan.block), t_v.data(), t_m.data());
  };
  if (kClaim) {
    parallel_for(plan.threads, plan.tasks, [&](int64_t task) { run(0, task); }, /*dynamic=*/true);
  } else {
    parallel_slices(plan.threads, plan.tasks, [&](int64_t slot, int64_t lo, int64_t hi) {
      for (int64_t task = lo; task < hi; ++task) run(slot, task);
    });
  }
}

// Calls f(n, t0, t1, row) for each sample n's run of tiles [t0, t1) in the
// block [q0, q1), row being where the run starts in the block.
template <class F>
void for_each_sample_run(const TilePlan& plan, int64_t q0, int64_t q1, F f) {
  for (int64_t q = q0; q < q1;) {
    const int64_t n = q / plan.tiles, t0 = q - n * plan.tiles;
    const int64_t t1 = std::min(plan.tiles, t0 + (q1 - q));
    f(n, t0, t1, q - q0);
    q += t1 - t0;
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
  const TilePlan plan = plan_tiles(g, N, threads);
  for_each_tile_block<true>(g, plan, [&](int64_t, int64_t q0, int64_t q1, float* v, float* m) {
    const int64_t count = q1 - q0;
    for_each_sample_run(plan, q0, q1, [&](int64_t n, int64_t t0, int64_t t1, int64_t row) {
      kt.winograd_input(g, x + n * in_size, zero_c, t0, t1, v + row * C, count);
    });
    for (int64_t xi = 0; xi < kWinogradPoints; ++xi)
      kt.sgemm(false, false, count, F, C, 1.f, v + xi * count * C, C, u + xi * C * F, F, 0.f,
               m + xi * count * F, F, 1, nullptr);
    for_each_sample_run(plan, q0, q1, [&](int64_t n, int64_t t0, int64_t t1, int64_t row) {
      kt.winograd_output(g, m + row * F, bias, relu, t0, t1, y + n * out_size, count);
    });
  });
}

void winograd_add_filter_grad(const ConvGeometry& g, int64_t N, const float* x, const float* dy,
                              float* sums, int threads) {
  const int64_t C = g.C, F = g.F, point = F * C;
  const float* zero = zeros(std::max(C, F));
  const TilePlan plan = plan_tiles(g, N, threads);
  // Slice 0 of the tiles sums its products into `sums`, each other slice
  // into its own p[xi][f][c], added after in slice order.
  if (plan.threads > 1) {
    t_partials.resize({plan.threads - 1, kWinogradPoints, F, C});
    t_partials.zero();
  }
  float* const others = t_partials.data();  // (the calling thread's: the slices run on others)
  auto partial = [&](int64_t slot) {
    return slot == 0 ? sums : others + (slot - 1) * kWinogradPoints * point;
  };
  const kernels::KernelTable& kt = kernels::active();
  const int64_t in_size = g.H * g.W * C, out_size = g.OH * g.OW * F;
  auto body = [&](int64_t slot, int64_t q0, int64_t q1, float* v, float* w) {
    const int64_t count = q1 - q0;
    float* p = partial(slot);
    for_each_sample_run(plan, q0, q1, [&](int64_t n, int64_t t0, int64_t t1, int64_t row) {
      kt.winograd_input(g, x + n * in_size, zero, t0, t1, v + row * C, count);
      kt.winograd_grad_output(g, dy + n * out_size, zero, t0, t1, w + row * F, count);
    });
    // p[xi] += w[xi]^T v[xi]: (F x tiles) (tiles x C)
    for (int64_t xi = 0; xi < kWinogradPoints; ++xi)
      kt.sgemm(true, false, F, C, count, 1.f, w + xi * count * F, F, v + xi * count * C, C,
               1.f, p + xi * point, C, 1, nullptr);
  };
  for_each_tile_block<false>(g, plan, body);
  for (int t = 1; t < plan.threads; ++t) add_floats(sums, partial(t), kWinogradPoints * point);
}

void winograd_backward_filter(const ConvGeometry& g, int64_t N, const float* x, const float* dy,
                              float* dkernel, int threads) {
  t_sums.resize({kWinogradPoints, g.F, g.C});
  t_sums.zero();
  winograd_add_filter_grad(g, N, x, dy, t_sums.data(), threads);
  kernels::winograd_kernel_grad(g, t_sums.data(), dkernel);
}

}  // namespace pyconv::ops

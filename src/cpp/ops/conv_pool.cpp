#include "ops/conv_pool.h"

#include <algorithm>
#include <cstdint>

#include "core/error.h"
#include "core/threads.h"
#include "graph/layers/built.h"
#include "kernels/dispatch.h"
#include "kernels/winograd.h"
#include "ops/reduce.h"

namespace pyconv::ops {

using kernels::ConvGeometry;
using kernels::PoolGeometry;

size_t ConvPoolWorkspace::bytes() const {
  size_t n = argmax.capacity() * sizeof(int32_t) + input_grad.flipped.held_bytes();
  for (const Worker& w : workers)
    n += w.out.held_bytes() + w.dkernel.held_bytes() + w.conv.bytes();
  for (const Tensor& t : dkernel) n += t.held_bytes();
  return n;
}

void ConvPoolWorkspace::release() {
  workers.clear();
  idle.clear();
  std::vector<int32_t>().swap(argmax);
  dkernel.clear();
  input_grad.flipped = Tensor();
  input_grad.prepared = nullptr;
}

namespace {

// A chunk's convolution output: about this many bytes (half the L2 cache of
// the machines measured), and at least one sample.
constexpr int64_t kChunkBytes = int64_t{256} << 10;

int64_t chunk_samples(const ConvGeometry& g) {
  return std::max<int64_t>(1, kChunkBytes / (g.out_pixels() * g.F * int64_t{sizeof(float)}));
}

// `view` becomes samples [n0, n1) of a batch, viewing its memory (`shape`
// is where its shape is built: reused, nothing is allocated once warm).
Tensor& view_samples(Tensor& view, Shape& shape, const Tensor& t, int64_t n0, int64_t n1) {
  shape = t.shape();
  const int64_t per_sample = t.numel() / shape[0];
  shape[0] = n1 - n0;
  view.view_of(const_cast<float*>(t.data()) + n0 * per_sample, shape);
  return view;
}

// `out` resized to n samples of the convolution's output.
Tensor& resize_output(Tensor& out, Shape& shape, const ConvGeometry& g, int64_t n) {
  shape.assign({n, g.OH, g.OW, g.F});
  out.resize(shape);
  return out;
}

// Enough workers for `team` tasks at once, all idle.
void prepare_workers(ConvPoolWorkspace& ws, int team) {
  if (ws.workers.size() < static_cast<size_t>(team)) ws.workers.resize(team);
  ws.idle.clear();
  for (int i = 0; i < team; ++i) ws.idle.push_back(i);
}

// A worker of its own for one task, for as long as the task runs (a pool
// runs at most `team` tasks at once, so one is always idle).
class WorkerLease {
 public:
  explicit WorkerLease(ConvPoolWorkspace& ws) : ws_(ws) {
    std::lock_guard<std::mutex> lock(ws_.mutex);
    index_ = ws_.idle.back();
    ws_.idle.pop_back();
  }
  ~WorkerLease() {
    std::lock_guard<std::mutex> lock(ws_.mutex);
    ws_.idle.push_back(index_);
  }
  WorkerLease(const WorkerLease&) = delete;
  WorkerLease& operator=(const WorkerLease&) = delete;
  ConvPoolWorkspace::Worker* operator->() { return &ws_.workers[index_]; }

 private:
  ConvPoolWorkspace& ws_;
  int index_ = 0;
};

// How the threads share the chunks: one chunk a thread, each chunk's kernels
// on one; or, with fewer chunks than threads (a few large images), one chunk
// at a time, its kernels on every thread.
struct Split {
  int outer, inner;
};

Split split_chunks(int64_t chunks, int64_t work, int threads) {
  const int team = threads_for(work, threads);
  return chunks >= team ? Split{team, 1} : Split{1, team};
}

// The backward pass's partial sums take at most this much memory (a
// Winograd-form gradient of a 512-to-512 3x3 layer is 38 MB), but every
// thread gets a group.
constexpr int64_t kPartialBytes = int64_t{64} << 20;

}  // namespace

void conv2d_maxpool_forward(const ConvGeometry& g, PoolGeometry pool, const Tensor& x,
                            const Tensor& kernel, WeightCache& cache, uint64_t kernel_version,
                            const Tensor* bias, Activation act, Tensor& pooled,
                            bool keep_winners, ConvPoolWorkspace& ws, int threads) {
  // The winners' indices within a sample are int32.
  if (g.out_pixels() * g.F > INT32_MAX)
    throw ValueError(cat("max pooling with a backward pass takes samples of at most 2**31 - 1 "
                         "values, received (", g.OH, ", ", g.OW, ", ", g.F, ")"));
  const int64_t N = x.dim(0), per_chunk = chunk_samples(g);
  const int64_t chunks = (N + per_chunk - 1) / per_chunk;
  const int64_t pooled_size = pooled.numel() / std::max<int64_t>(1, N);
  const Split split = split_chunks(chunks, N * g.out_pixels() * g.col_width() * g.F, threads);
  if (keep_winners) ws.argmax.resize(static_cast<size_t>(pooled.numel()));
  prepare_workers(ws, split.outer);
  const kernels::KernelTable& kt = kernels::active();
  parallel_for(split.outer, chunks, [&](int64_t j) {
    const int64_t n0 = j * per_chunk, n1 = std::min(N, n0 + per_chunk);
    WorkerLease w(ws);
    resize_output(w->out, w->shape, g, n1 - n0);
    conv2d_forward(g, view_samples(w->x, w->shape, x, n0, n1), kernel, bias, act, w->out,
                   split.inner, &cache, kernel_version);
    PoolGeometry chunk = pool;
    chunk.N = n1 - n0;
    kt.maxpool2d_f32(chunk, w->out.data(), pooled.data() + n0 * pooled_size,
                     keep_winners ? ws.argmax.data() + n0 * pooled_size : nullptr, split.inner);
  }, /*dynamic=*/true);
}

void conv2d_maxpool_backward(const ConvGeometry& g, PoolGeometry pool, const Tensor& x,
                             const Tensor& kernel, Activation act, const Tensor& pooled,
                             Tensor& dpooled, Tensor* dx, Tensor& dkernel, Tensor* dbias,
                             ConvPoolWorkspace& ws, int threads) {
  const int64_t N = x.dim(0), per_chunk = chunk_samples(g);
  const int64_t chunks = (N + per_chunk - 1) / per_chunk;
  const int64_t pooled_size = pooled.numel() / std::max<int64_t>(1, N);
  if (chunks == 0) {  // no samples (the graph refuses them before): no gradient
    dkernel.zero();
    if (dbias) dbias->zero();
    return;
  }
  // The activation's derivative at each window's winner is its derivative
  // at the pooled value: taken on the pooled gradient, a quarter the size.
  if (act != Activation::Linear)
    activation_backward(act, pooled.data(), dpooled.data(), pooled.numel() / g.F, g.F, threads);
  // Each pooled value's gradient goes to one convolution output: the bias
  // gradient is the pooled gradient's column sums, a quarter of the reads.
  if (dbias) column_sums(dpooled.data(), pooled.numel() / g.F, g.F, dbias->data(), threads);
  // Chunks are summed in fixed groups, each into its own partial gradient,
  // and the groups in order: the result does not depend on which thread ran
  // which group (as in conv2d_backward). Through Winograd the partials stay
  // in its transformed form, transformed back once at the end, not per chunk.
  const bool winograd = kWinogradBuilt && winograd_applies(g);
  const int64_t sums_size = winograd ? kernels::kWinogradPoints * g.F * g.C : dkernel.numel();
  const Split split =
      split_chunks(chunks, 2 * N * g.out_pixels() * g.col_width() * g.F, threads);
  // Four groups a thread where memory allows, one at least.
  const int64_t by_memory = kPartialBytes / (sums_size * int64_t{sizeof(float)}) / split.outer;
  const int64_t groups = std::min(chunks, std::clamp<int64_t>(by_memory, 1, 4) * split.outer);
  prepare_workers(ws, split.outer);
  if (static_cast<int64_t>(ws.dkernel.size()) < groups) ws.dkernel.resize(groups);
  if (dx) conv2d_prepare_input_grad(g, kernel.data(), ws.input_grad);
  const kernels::KernelTable& kt = kernels::active();
  parallel_for(split.outer, groups, [&](int64_t grp) {
    WorkerLease w(ws);
    Tensor& sums = ws.dkernel[grp];
    sums.resize({sums_size});
    if (winograd) sums.zero();
    const int64_t first = chunks * grp / groups, end = chunks * (grp + 1) / groups;
    for (int64_t j = first; j < end; ++j) {
      const int64_t n0 = j * per_chunk, n1 = std::min(N, n0 + per_chunk);
      Tensor& dy = resize_output(w->out, w->shape, g, n1 - n0);
      PoolGeometry chunk = pool;
      chunk.N = n1 - n0;
      kt.maxpool2d_backward_f32(chunk, dpooled.data() + n0 * pooled_size,
                                ws.argmax.data() + n0 * pooled_size, dy.data(), split.inner);
      const Tensor& x_chunk = view_samples(w->x, w->shape, x, n0, n1);
      Tensor* dx_chunk = dx ? &view_samples(w->dx, w->shape, *dx, n0, n1) : nullptr;
      if (winograd) {
        if (dx)
          conv2d_input_grad(g, n1 - n0, dy.data(), kernel.data(), dx_chunk->data(), w->conv,
                            split.inner, &ws.input_grad);
        winograd_add_filter_grad(g, n1 - n0, x_chunk.data(), dy.data(), sums.data(), split.inner);
        continue;
      }
      // The group's first chunk writes the group's sum; the rest add theirs.
      Tensor& dk = j == first ? sums : w->dkernel;
      dk.resize(dkernel.shape());
      conv2d_backward(g, x_chunk, kernel, dy, dx_chunk, dk, nullptr, w->conv, split.inner,
                      &ws.input_grad);
      if (j != first) add_floats(sums.data(), dk.data(), dk.numel());
    }
  }, /*dynamic=*/true);
  for (int64_t grp = 1; grp < groups; ++grp)
    add_floats(ws.dkernel[0].data(), ws.dkernel[grp].data(), sums_size);
  if (winograd)
    kernels::winograd_kernel_grad(g, ws.dkernel[0].data(), dkernel.data());
  else
    copy_floats(dkernel.data(), ws.dkernel[0].data(), dkernel.numel());
}

}  // namespace pyconv::ops

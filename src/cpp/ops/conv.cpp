#include "ops/conv.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/threads.h"
#include "graph/layers/built.h"
#include "kernels/dispatch.h"
#include "ops/conv_winograd.h"
#include "ops/reduce.h"

namespace pyconv::ops {

using kernels::ConvGeometry;

void conv2d_check_args(const Conv2DArgs& a, const std::string& who) {
  auto positive = [&](int64_t v, const char* what) {
    if (v <= 0) throw ValueError(cat(who, ": ", what, " must be positive, received ", v));
  };
  positive(a.filters, "filters");
  positive(a.kh, "kernel_size");
  positive(a.kw, "kernel_size");
  positive(a.sh, "strides");
  positive(a.sw, "strides");
  positive(a.dh, "dilation_rate");
  positive(a.dw, "dilation_rate");
  positive(a.groups, "groups");
  const Padding2D& p = a.padding;
  if (p.mode == PadMode::Explicit && (p.top < 0 || p.bottom < 0 || p.left < 0 || p.right < 0))
    throw ValueError(cat(who, ": padding must be non-negative, received (", p.top, ", ",
                         p.bottom, ", ", p.left, ", ", p.right, ")"));
  if (a.filters % a.groups != 0)
    throw ValueError(cat(who, ": filters (", a.filters, ") must be divisible by groups (",
                         a.groups, ")"));
}

ConvGeometry conv2d_geometry(const Shape& input, const Conv2DArgs& a, const std::string& who) {
  conv2d_check_args(a, who);
  if (input.size() != 3)
    throw ShapeError(cat(who, ": expected input of shape (N, H, W, C), received ",
                         batch_shape_str(input)));
  ConvGeometry g{};
  g.H = input[0];
  g.W = input[1];
  g.C = input[2];
  if (g.C % a.groups != 0)
    throw ShapeError(cat(who, ": input channels (", g.C, ") must be divisible by groups (",
                         a.groups, ")"));
  const Padding2D& p = a.padding;
  const Extent eh = resolve_extent(p.mode, g.H, a.kh, a.sh, a.dh, p.top, p.bottom, who, "height");
  const Extent ew = resolve_extent(p.mode, g.W, a.kw, a.sw, a.dw, p.left, p.right, who, "width");
  g.OH = eh.out;
  g.OW = ew.out;
  g.PT = eh.before;
  g.PL = ew.before;
  g.F = a.filters;
  g.KH = a.kh;
  g.KW = a.kw;
  g.SH = a.sh;
  g.SW = a.sw;
  g.DH = a.dh;
  g.DW = a.dw;
  g.groups = a.groups;
  // Kernels index with products of these sizes unchecked: check once that
  // the input, output and kernel element counts fit in int64.
  shape_numel(input, who);
  shape_numel({g.OH, g.OW, g.F}, cat(who, ": output"));
  shape_numel(conv2d_kernel_shape(g), cat(who, ": kernel"));
  return g;
}

size_t ConvWorkspace::bytes() const {
  size_t n = col.held_bytes() + flipped.held_bytes();
  for (const Tensor& t : dkernel) n += t.held_bytes();
  return n;
}

namespace {

// How a convolution is computed:
//  Direct:    depthwise (one input channel per group, several groups): loops
//             over the taps with channels innermost; per-group GEMMs would be
//             one column wide. (A one-channel input goes through im2col: its
//             filter count is often too small for channel vectors to pay.)
//  Pointwise: 1x1, stride 1, unpadded, ungrouped: one GEMM on the input as is.
//  General:   everything else. Forward (and, for stride 1, the input gradient,
//             as a convolution of dy): Winograd where it applies, else the
//             convolution kernel (direct, or columns packed into the GEMM).
//             Kernel gradient: a GEMM with columns packed from the image.
//             Strided input gradient: column chunks scattered back (col2im).
enum class ConvPath { Direct, Pointwise, General };

ConvPath choose_path(const ConvGeometry& g) {
  if (g.cin_group() == 1 && g.groups == g.C && g.C > 1) return ConvPath::Direct;
  if (g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.PT == 0 && g.PL == 0 &&
      g.OH == g.H && g.OW == g.W && g.groups == 1)
    return ConvPath::Pointwise;
  return ConvPath::General;
}

// Winograd where it applies and the build has it (the check here, in this
// file, lets the compiler drop the Winograd code of a build without it).
bool use_winograd(const ConvGeometry& g) { return kWinogradBuilt && winograd_applies(g); }

// Kernel-gradient partial sums for the per-sample backward loop, one per chunk of samples.
void ensure_partials(const ConvGeometry& g, ConvWorkspace& ws, int slots) {
  if (static_cast<int>(ws.dkernel.size()) < slots) ws.dkernel.resize(slots);
  for (int t = 0; t < slots; ++t) ws.dkernel[t].resize({g.col_width(), g.F});
}

// For stride 1, the input gradient is itself a convolution: of dy, with the
// kernel flipped in space and its in/out channels swapped, padded by
// D*(K-1) - P before. These give that convolution's geometry and kernel.
bool input_grad_is_conv(const ConvGeometry& g) { return g.SH == 1 && g.SW == 1; }

ConvGeometry input_grad_geometry(const ConvGeometry& g) {
  ConvGeometry t = g;
  t.H = g.OH, t.W = g.OW, t.C = g.F;
  t.OH = g.H, t.OW = g.W, t.F = g.C;
  t.PT = g.DH * (g.KH - 1) - g.PT;
  t.PL = g.DW * (g.KW - 1) - g.PL;
  return t;
}

// flipped[kh, kw, f, g*Cg + c] = kernel[KH-1-kh, KW-1-kw, c, g*Fg + f].
void flip_kernel(const ConvGeometry& g, const float* kernel, Tensor& flipped) {
  const int64_t Cg = g.cin_group(), Fg = g.cout_group();
  flipped.resize({g.KH, g.KW, Fg, g.C});
  float* out = flipped.data();
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const float* src = kernel + ((g.KH - 1 - kh) * g.KW + (g.KW - 1 - kw)) * Cg * g.F;
      float* dst = out + (kh * g.KW + kw) * Fg * g.C;
      for (int64_t grp = 0; grp < g.groups; ++grp)
        for (int64_t c = 0; c < Cg; ++c)
          for (int64_t f = 0; f < Fg; ++f)
            dst[f * g.C + grp * Cg + c] = src[c * g.F + grp * Fg + f];
    }
}

}  // namespace

namespace {

// The kernel as the path's kernel reads it (a Winograd transform, packed
// panels) from the cache; null without a cache, or where the kernel reads
// the kernel as it is.
std::shared_ptr<const Tensor> prepared_kernel(const ConvGeometry& g, const float* kernel,
                                              WeightCache* cache, uint64_t version) {
  const ConvPath path = choose_path(g);
  if (!cache || path == ConvPath::Direct) return nullptr;
  if (path == ConvPath::General && use_winograd(g))  // the same for every kernel table
    return cache->get(version, nullptr,
                      [&](Tensor& u) { winograd_transform_kernel(g, kernel, u); });
  const kernels::KernelTable& kt = kernels::active();
  const int64_t K = g.col_width();
  const bool pointwise = path == ConvPath::Pointwise;
  const int64_t size = pointwise ? kt.sgemm_packed_b_size(K, g.F) : kt.conv_packed_size(g);
  if (size == 0) return nullptr;
  // Keyed by the table too: its layout is that table's kernels' own.
  return cache->get(version, kt.isa, [&](Tensor& packed) {
    packed.resize({size});
    if (pointwise)
      kt.sgemm_pack_b(false, K, g.F, kernel, g.F, packed.data());
    else
      kt.conv_pack(g, kernel, packed.data());
  });
}

// Runs the convolution kernel over every group and pixel of the batch: the
// batch's pixels are split into one contiguous range per thread, so each
// thread prepares the kernel once (unless `prepared` has it already), and
// batch-1 inference uses every core.
// post: an element-wise activation each range applies to the outputs it
// wrote, while they are in cache (Linear: none; not with Winograd).
void conv_forward_batch(const ConvGeometry& g, int64_t N, const float* x, const float* kernel,
                        const Tensor* prepared, const float* bias, bool relu, float* y,
                        int threads, Activation post = Activation::Linear) {
  if (use_winograd(g)) {
    winograd_forward(g, N, x, kernel, prepared, bias, relu, y, threads);
    return;
  }
  const float* packed = prepared ? prepared->data() : nullptr;
  const int64_t P = g.out_pixels(), total = N * P;
  // With the kernel prepared, or small (up to 256 KB, packed again for every
  // range), ranges share no set-up: a second thread pays from a quarter of
  // the usual work (batch-1 LeNet-5's layers of 118k and 240k multiply-adds
  // then take two: 14.0-14.5 -> 11.4-12.3 us a digit through the C API,
  // 14.0-14.3 on one thread).
  const bool cheap_ranges = packed || g.col_width() * g.F <= (int64_t{1} << 16);
  const int team = threads_for(total * g.col_width() * g.F, threads,
                               cheap_ranges ? kMinWorkPerThread / 4 : kMinWorkPerThread);
  const kernels::KernelTable& kt = kernels::active();
  // Ranges start and end on the kernel's step (its pixel tile, or whole
  // output rows) within each sample, so no range ends in a part-filled tile
  // or copies input rows another range copies too.
  const int64_t step = std::max<int64_t>(1, std::min(P, kt.conv_forward_step(g)));
  // Cheap ranges: four per thread, claimed one at a time, so a core slowed by
  // other work on the machine takes fewer; but not for small work (batch-1
  // inference), where ranges of a few steps would each pay the kernel's
  // set-up.
  const bool many = cheap_ranges && total >= 64 * team && total >= 16 * team * step;
  const int parts = team > 1 && many ? 4 * team : team;
  auto cut = [&](int64_t part) {  // where range `part` starts
    const int64_t q = total * part / parts, n = q / P, p = q - n * P;
    return n * P + std::min(P, (p + step / 2) / step * step);
  };
  parallel_for(team, parts, [&](int64_t part) {
    const int64_t q0 = cut(part), q1 = cut(part + 1);
    for (int64_t grp = 0; grp < g.groups && q0 < q1; ++grp)
      kt.conv_forward(g, grp, x, kernel, packed, bias, relu, q0, q1, y);
    if (post != Activation::Linear && q0 < q1)
      kt.activation_forward_f32(post, y + q0 * g.F, y + q0 * g.F, (q1 - q0) * g.F);
  }, /*dynamic=*/true);
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& kernel,
                    const Tensor* bias, Activation act, Tensor& y, int threads,
                    WeightCache* cache, uint64_t kernel_version) {
  conv2d_forward(g, x.dim(0), x.data(), kernel, bias, act, y.data(), threads, cache,
                 kernel_version);
}

void conv2d_forward(const ConvGeometry& g, int64_t N, const float* x, const Tensor& kernel,
                    const Tensor* bias, Activation act, float* y, int threads,
                    WeightCache* cache, uint64_t kernel_version) {
  const int64_t P = g.out_pixels(), K = g.col_width();
  const ConvPath path = choose_path(g);
  // The GEMM paths apply bias and ReLU while storing their output (the
  // pointwise GEMM any element-wise activation, on each block it finishes);
  // the direct paths (not Winograd's) any element-wise activation, each
  // thread on the outputs it has just written; the rest takes a pass of its own.
  const bool elementwise = act != Activation::Linear && act != Activation::Softmax;
  const bool in_stores = path != ConvPath::Direct &&
                         (act == Activation::Relu || act == Activation::Linear ||
                          (path == ConvPath::Pointwise && elementwise));
  const bool relu = in_stores && act == Activation::Relu;
  const Activation post =
      !in_stores && elementwise &&
              (path == ConvPath::Direct || (path == ConvPath::General && !use_winograd(g)))
          ? act
          : Activation::Linear;
  const bool fused = in_stores || post != Activation::Linear;
  const float* b = bias ? bias->data() : nullptr;
  const kernels::KernelTable& kt = kernels::active();
  // Held until the kernels are done with it, even if the weights change meanwhile.
  const std::shared_ptr<const Tensor> prepared =
      prepared_kernel(g, kernel.data(), cache, kernel_version);
  if (path == ConvPath::General) {
    conv_forward_batch(g, N, x, kernel.data(), prepared.get(), b, relu, y, threads, post);
  } else if (path == ConvPath::Pointwise) {  // one GEMM over every sample's pixels
    kernels::GemmExtras ex;
    ex.packed_b = prepared ? prepared->data() : nullptr;
    ex.bias = b;
    fuse_into_gemm(act, ex);  // in_stores: act is element-wise or linear
    kt.sgemm(false, false, N * P, g.F, K, 1.f, x, K, kernel.data(), g.F, 0.f, y, g.F, threads,
             &ex);
  } else {
    const int split = threads_for(N * P * K * g.F, threads);
    const int64_t in_size = g.H * g.W * g.C, out_size = P * g.F;
    parallel_for(split, N, [&](int64_t n) {  // claimed one by one: a slowed core takes fewer
      float* out = y + n * out_size;
      kt.depthwise_forward(g, x + n * in_size, kernel.data(), b, out);
      if (post != Activation::Linear) kt.activation_forward_f32(post, out, out, out_size);
    }, /*dynamic=*/true);
  }
  if (!fused) activation_forward(act, y, N * P, g.F, threads);
}

void conv2d_prepare(const ConvGeometry& g, const Tensor& kernel, WeightCache& cache,
                    uint64_t kernel_version) {
  prepared_kernel(g, kernel.data(), &cache, kernel_version);
}

bool conv2d_keeps_rows(const ConvGeometry& g) {
  // A 1x1 stride-1 convolution (ungrouped) is one GEMM over all its pixels
  // where unpadded, whose blocking depends on the pixel count, and a crop of
  // a padded one would become such a GEMM (another path, and another layout
  // of the cached kernel).
  const bool pointwise_like = g.KH == 1 && g.KW == 1 && g.SH == 1 && g.SW == 1 && g.groups == 1;
  return !use_winograd(g) && !pointwise_like;
}

namespace {

// The kernel gradient through the column GEMM, all samples at once:
// dkernel[:, group] = columns^T dy[:, group], the columns packed from x with
// taps as rows (1152 for a 3x3x128 kernel: enough row blocks for threads to
// claim them one at a time) and every sample's pixels as the depth.
void kernel_grad_by_columns(const ConvGeometry& g, int64_t N, const float* x, const float* dy,
                            float* dkernel, int threads) {
  const int64_t K = g.col_width(), Fg = g.cout_group();
  const kernels::KernelTable& kt = kernels::active();
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    kernels::Im2colSource source{&g, grp, x};
    source.sample_size = g.H * g.W * g.C;
    kernels::GemmExtras ex;
    ex.pack_a = kernels::pack_im2col_taps;
    ex.pack_a_ctx = &source;
    kt.sgemm(false, false, K, Fg, N * g.out_pixels(), 1.f, nullptr, K, dy + grp * Fg, g.F, 0.f,
             dkernel + grp * Fg, g.F, threads, &ex);
  }
}

// The strided input gradient: column rows dcol = dy kernel^T for a run of
// pixels across samples (one GEMM, threaded inside, so the kernel is packed
// once per run), then scattered back into each sample's dx (col2im, the
// samples in parallel).
void input_grad_by_columns(const ConvGeometry& g, int64_t N, const float* dy, const float* kernel,
                           float* dx, Tensor& dcol, int threads) {
  const int64_t P = g.out_pixels(), K = g.col_width(), Fg = g.cout_group(), total = N * P;
  const int64_t in_size = g.H * g.W * g.C;
  const int64_t run = std::min(total, std::max<int64_t>(64, (int64_t{1} << 21) / K));  // <= 8 MB
  dcol.resize({run, K});
  std::memset(dx, 0, sizeof(float) * N * in_size);
  const kernels::KernelTable& kt = kernels::active();
  for (int64_t grp = 0; grp < g.groups; ++grp)
    for (int64_t q0 = 0; q0 < total; q0 += run) {
      const int64_t q1 = std::min(total, q0 + run), n0 = q0 / P, n1 = (q1 - 1) / P + 1;
      kt.sgemm(false, true, q1 - q0, K, Fg, 1.f, dy + q0 * g.F + grp * Fg, g.F, kernel + grp * Fg,
               g.F, 0.f, dcol.data(), K, threads, nullptr);
      const int split = static_cast<int>(std::min<int64_t>(threads, n1 - n0));
      parallel_for(split, n1 - n0, [&](int64_t n_index) {
        const int64_t n = n0 + n_index;
        const int64_t p0 = std::max(q0, n * P) - n * P, p1 = std::min(q1, (n + 1) * P) - n * P;
        kernels::col2im_nhwc(g, grp, dcol.data() + (n * P + p0 - q0) * K, p0, p1,
                             dx + n * in_size);
      });
    }
}

}  // namespace

void conv2d_prepare_input_grad(const ConvGeometry& g, const float* kernel, InputGradKernel& k) {
  if (choose_path(g) != ConvPath::General || !input_grad_is_conv(g)) {
    k.flipped = Tensor();
    k.prepared = nullptr;
    return;
  }
  flip_kernel(g, kernel, k.flipped);
  k.prepared = nullptr;  // so the cache can rebuild in the buffer it holds
  k.prepared = prepared_kernel(input_grad_geometry(g), k.flipped.data(), &k.cache, ++k.version);
}

void conv2d_input_grad(const ConvGeometry& g, int64_t N, const float* dy, const float* kernel,
                       float* dx, ConvWorkspace& ws, int threads, const InputGradKernel* prepared) {
  const ConvPath path = choose_path(g);
  if (path == ConvPath::Direct)
    throw StateError("conv2d_input_grad: depthwise convolutions take theirs in conv2d_backward");
  const int64_t P = g.out_pixels(), K = g.col_width();
  const kernels::KernelTable& kt = kernels::active();
  if (path == ConvPath::Pointwise) {  // dx = dy kernel^T, over every pixel
    kt.sgemm(false, true, N * P, K, g.F, 1.f, dy, g.F, kernel, g.F, 0.f, dx, K, threads, nullptr);
  } else if (input_grad_is_conv(g)) {  // dx = conv(dy, flipped kernel), all samples at once
    const bool ready = prepared && !prepared->flipped.empty();
    if (!ready) flip_kernel(g, kernel, ws.flipped);
    conv_forward_batch(input_grad_geometry(g), N, dy,
                       ready ? prepared->flipped.data() : ws.flipped.data(),
                       ready ? prepared->prepared.get() : nullptr, nullptr, false, dx, threads);
  } else {
    input_grad_by_columns(g, N, dy, kernel, dx, ws.col, threads);
  }
}

void conv2d_backward(const ConvGeometry& g, const Tensor& x, const Tensor& kernel,
                     const Tensor& dy, Tensor* dx, Tensor& dkernel, Tensor* dbias,
                     ConvWorkspace& ws, int threads, const InputGradKernel* prepared) {
  const int64_t N = x.dim(0), P = g.out_pixels(), K = g.col_width();
  const ConvPath path = choose_path(g);
  const kernels::KernelTable& kt = kernels::active();
  if (dbias) column_sums(dy.data(), N * P, g.F, dbias->data(), threads);
  if (dx && path != ConvPath::Direct)
    conv2d_input_grad(g, N, dy.data(), kernel.data(), dx->data(), ws, threads, prepared);
  if (path == ConvPath::Pointwise) {  // dkernel = x^T dy, over every pixel
    kt.sgemm(true, false, K, g.F, N * P, 1.f, x.data(), K, dy.data(), g.F, 0.f, dkernel.data(),
             g.F, threads, nullptr);
    return;
  }
  if (path == ConvPath::General && use_winograd(g)) {
    winograd_backward_filter(g, N, x.data(), dy.data(), dkernel.data(), threads);
    return;
  }
  // Depthwise, and few channels or filters, take the kernel gradient per
  // sample into partials; the rest take it as one column GEMM.
  const bool per_sample_grad = path == ConvPath::Direct || kernels::filter_grad_applies(g);
  if (!per_sample_grad) {
    kernel_grad_by_columns(g, N, x.data(), dy.data(), dkernel.data(), threads);
    return;
  }

  // The samples are cut into fixed chunks, each summed into its own partial
  // gradient and claimed by the threads one at a time (a core slowed by
  // other work takes fewer); the partials are added in chunk order, so the
  // result does not depend on which thread took which chunk.
  const int team = threads_for(2 * N * P * K * g.F, threads);
  const int64_t chunks = std::min<int64_t>(N, 4 * team);
  ensure_partials(g, ws, static_cast<int>(chunks));
  const int64_t in_size = g.H * g.W * g.C, out_size = P * g.F;
  parallel_for(team, chunks, [&](int64_t chunk) {
    float* dk = ws.dkernel[chunk].data();
    std::fill(dk, dk + ws.dkernel[chunk].numel(), 0.f);
    for (int64_t n = N * chunk / chunks; n < N * (chunk + 1) / chunks; ++n) {
      const float* xn = x.data() + n * in_size;
      const float* dyn = dy.data() + n * out_size;
      if (path == ConvPath::Direct) {
        kt.depthwise_backward_filter(g, xn, dyn, dk);
        if (dx) kt.depthwise_backward_data(g, dyn, kernel.data(), dx->data() + n * in_size);
      } else {
        kt.conv_backward_filter(g, xn, dyn, dk);
      }
    }
  }, /*dynamic=*/true);
  float* dk = dkernel.data();
  std::fill(dk, dk + dkernel.numel(), 0.f);
  for (int64_t chunk = 0; chunk < chunks; ++chunk) {
    const float* part = ws.dkernel[chunk].data();
    for (int64_t i = 0; i < dkernel.numel(); ++i) dk[i] += part[i];
  }
}

}  // namespace pyconv::ops

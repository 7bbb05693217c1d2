#include "ops/conv.h"

#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "ops/batch_split.h"
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
  return g;
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

// Output pixels per column chunk of the input gradient: the chunk (about
// 256 KB) stays in L2 between the GEMM writing it and col2im reading it.
int64_t chunk_pixels(const ConvGeometry& g) {
  return std::min(g.out_pixels(), std::max<int64_t>(48, (int64_t{1} << 16) / g.col_width()));
}

// Per-thread scratch for the backward pass: kernel-gradient partial sums, and
// a column chunk for the input gradient when it is wanted.
void ensure_workspace(const ConvGeometry& g, ConvPath path, ConvWorkspace& ws, int slots,
                      bool want_dx) {
  if (static_cast<int>(ws.col.size()) < slots) ws.col.resize(slots);
  if (static_cast<int>(ws.dkernel.size()) < slots) ws.dkernel.resize(slots);
  for (int t = 0; t < slots; ++t) {
    if (path == ConvPath::General && want_dx) ws.col[t].resize({chunk_pixels(g), g.col_width()});
    ws.dkernel[t].resize({g.col_width(), g.F});
  }
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

// Runs the convolution kernel over every (sample, group, pixel range): the
// batch is split across threads, and a batch smaller than the thread count
// is split by pixel ranges too, so batch-1 inference uses every core.
void conv_forward_batch(const ConvGeometry& g, int64_t N, const float* x, const float* kernel,
                        const float* bias, bool relu, float* y, int threads,
                        WinogradKernelCache* cache = nullptr, uint64_t kernel_version = 0) {
  if (winograd_applies(g)) {
    winograd_forward(g, N, x, kernel, bias, relu, y, threads, cache, kernel_version);
    return;
  }
  const int64_t P = g.out_pixels(), in_size = g.H * g.W * g.C, out_size = P * g.F;
  const BatchSplit split = split_batch(N, threads_for(N * P * g.col_width() * g.F, threads));
  const int64_t parts = split.inner;
  const kernels::KernelTable& kt = kernels::active();
#pragma omp parallel for collapse(2) num_threads(split.outer * split.inner) schedule(static) \
    if (split.outer * split.inner > 1)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t part = 0; part < parts; ++part)
      for (int64_t grp = 0; grp < g.groups; ++grp)
        kt.conv_forward(g, grp, x + n * in_size, kernel, bias, relu, P * part / parts,
                        P * (part + 1) / parts, y + n * out_size);
}

}  // namespace

void conv2d_forward(const ConvGeometry& g, const Tensor& x, const Tensor& kernel,
                    const Tensor* bias, Activation act, Tensor& y, int threads,
                    WinogradKernelCache* cache, uint64_t kernel_version) {
  const int64_t N = x.dim(0), P = g.out_pixels(), K = g.col_width();
  const ConvPath path = choose_path(g);
  // The GEMM paths apply bias and ReLU while storing their output.
  const bool fused = path != ConvPath::Direct && (act == Activation::Relu || act == Activation::Linear);
  const bool relu = fused && act == Activation::Relu;
  const float* b = bias ? bias->data() : nullptr;
  const kernels::KernelTable& kt = kernels::active();
  if (path == ConvPath::General) {
    conv_forward_batch(g, N, x.data(), kernel.data(), b, relu, y.data(), threads, cache,
                       kernel_version);
  } else {
    const BatchSplit split = split_batch(N, threads_for(N * P * K * g.F, threads));
    const int64_t in_size = g.H * g.W * g.C, out_size = P * g.F;
#pragma omp parallel for num_threads(split.outer) schedule(static) if (split.outer > 1)
    for (int64_t n = 0; n < N; ++n) {
      const float* xn = x.data() + n * in_size;
      float* yn = y.data() + n * out_size;
      if (path == ConvPath::Direct) {
        kt.depthwise_forward(g, xn, kernel.data(), b, yn);
      } else {  // pointwise: one GEMM on the input as it is
        kernels::GemmExtras ex;
        ex.bias = b;
        ex.relu = relu;
        kt.sgemm(false, false, P, g.F, K, 1.f, xn, K, kernel.data(), g.F, 0.f, yn, g.F,
                 split.inner, &ex);
      }
    }
  }
  if (!fused) {
    const int64_t cols = y.dim(-1);
    activation_forward(act, y.data(), y.numel() / cols, cols, threads);
  }
}

void conv2d_backward(const ConvGeometry& g, const Tensor& x, const Tensor& kernel,
                     const Tensor& dy, Tensor* dx, Tensor& dkernel, Tensor* dbias,
                     ConvWorkspace& ws, int threads) {
  const int64_t N = x.dim(0), P = g.out_pixels(), K = g.col_width(), Fg = g.cout_group();
  const BatchSplit split = split_batch(N, threads_for(2 * N * P * K * g.F, threads));
  const ConvPath path = choose_path(g);
  const int64_t chunk = chunk_pixels(g);
  const bool dx_as_conv = dx && path == ConvPath::General && input_grad_is_conv(g);
  if (dx_as_conv) {  // dx = conv(dy, flipped kernel), all samples at once
    const ConvGeometry gt = input_grad_geometry(g);
    flip_kernel(g, kernel.data(), ws.flipped);
    conv_forward_batch(gt, N, dy.data(), ws.flipped.data(), nullptr, false, dx->data(), threads);
  }
  if (path == ConvPath::General && winograd_applies(g)) {  // stride 1: dx is done above
    winograd_backward_filter(g, N, x.data(), dy.data(), dkernel.data(), threads);
    if (dbias) column_sums(dy.data(), N * P, g.F, dbias->data(), threads);
    return;
  }
  // Few channels or filters: the kernel gradient without columns, its
  // partials in the kernel's own layout (the GEMM's are transposed).
  const bool planar_grad = path == ConvPath::General && kernels::filter_grad_applies(g);
  const bool transposed_partials = path == ConvPath::General && !planar_grad;
  ensure_workspace(g, path, ws, split.outer, dx != nullptr && !dx_as_conv);
  const kernels::KernelTable& kt = kernels::active();
  const int64_t in_size = g.H * g.W * g.C, out_size = P * g.F;
  for (int t = 0; t < split.outer; ++t) ws.dkernel[t].zero();

#pragma omp parallel for num_threads(split.outer) schedule(static) if (split.outer > 1)
  for (int64_t n = 0; n < N; ++n) {
    const int slot = split.slot();
    const float* xn = x.data() + n * in_size;
    const float* dyn = dy.data() + n * out_size;
    float* dxn = dx ? dx->data() + n * in_size : nullptr;
    float* dk = ws.dkernel[slot].data();
    if (path == ConvPath::Direct) {
      kt.depthwise_backward_filter(g, xn, dyn, dk);
      if (dxn) kt.depthwise_backward_data(g, dyn, kernel.data(), dxn);
      continue;
    }
    if (path == ConvPath::Pointwise) {
      // dkernel += x^T dy; dx = dy kernel^T.
      kt.sgemm(true, false, K, g.F, P, 1.f, xn, K, dyn, g.F, 1.f, dk, g.F, split.inner, nullptr);
      if (dxn)
        kt.sgemm(false, true, P, K, g.F, 1.f, dyn, g.F, kernel.data(), g.F, 0.f, dxn, K,
                 split.inner, nullptr);
      continue;
    }
    if (planar_grad) {
      kt.conv_backward_filter(g, xn, dyn, dk);
    } else {
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        // dkernel^T[group] += dy[:, group]^T columns, the columns packed from x.
        const kernels::Im2colSource source{&g, grp, xn};
        kernels::GemmExtras ex;
        ex.pack_b = kernels::pack_im2col_b;
        ex.pack_b_ctx = &source;
        kt.sgemm(true, false, Fg, K, P, 1.f, dyn + grp * Fg, g.F, nullptr, K, 1.f,
                 dk + grp * Fg * K, K, split.inner, &ex);
      }
    }
    if (!dxn || dx_as_conv) continue;
    // dx: per chunk of pixels, dcol = dy kernel^T, then scattered back (col2im).
    std::memset(dxn, 0, sizeof(float) * in_size);
    float* dcol = ws.col[slot].data();
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int64_t p0 = 0; p0 < P; p0 += chunk) {
        const int64_t p1 = std::min(P, p0 + chunk);
        kt.sgemm(false, true, p1 - p0, K, Fg, 1.f, dyn + p0 * g.F + grp * Fg, g.F,
                 kernel.data() + grp * Fg, g.F, 0.f, dcol, K, split.inner, nullptr);
        kernels::col2im_nhwc(g, grp, dcol, p0, p1, dxn);
      }
  }

  // Sum the per-thread partials. The general path keeps them transposed (F x K).
  float* dk = dkernel.data();
  std::fill(dk, dk + dkernel.numel(), 0.f);
  for (int t = 0; t < split.outer; ++t) {
    const float* part = ws.dkernel[t].data();
    if (transposed_partials) {
      for (int64_t f = 0; f < g.F; ++f)
        for (int64_t k = 0; k < K; ++k) dk[k * g.F + f] += part[f * K + k];
    } else {
      for (int64_t i = 0; i < dkernel.numel(); ++i) dk[i] += part[i];
    }
  }
  if (dbias) column_sums(dy.data(), N * P, g.F, dbias->data(), threads);
}

}  // namespace pyconv::ops

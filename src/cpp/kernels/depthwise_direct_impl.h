// The depthwise kernels for one output channel per input channel (the usual
// depthwise layer) written over an ISA's vectors, included inside that ISA's
// namespace (depthwise_avx2.cpp, depthwise_neon.cpp) after it defines `Lanes`:
//
//   struct Lanes {
//     using Vec = ...;                    // kWidth floats
//     static constexpr int kWidth, kVecs;  // floats per vector, vectors per block
//     static Vec zero();
//     static Vec load(const float* p, int64_t n);  // lanes [0, n) of p, zero past; n >= 1
//     static void store(float* p, Vec v, int64_t n);  // lanes [0, n) only
//     static Vec fma(Vec a, Vec b, Vec acc);  // acc + a * b
//     static Vec add(Vec a, Vec b);
//   };
//
// load/store with n >= kWidth touch whole vectors. Every output vector is
// summed in registers over all of its taps and stored once, where the
// generic kernels (depthwise_impl.h, namespace `generic`, which takes channel
// multipliers above 1) add each tap into memory. The input gradient is
// gathered the same way, per input pixel. The including file provides
// <algorithm> and kernels/scratch.h.

namespace {

constexpr int64_t kBlock = Lanes::kWidth * Lanes::kVecs;  // channels held in registers at a time

// out[c] = init[c] (0 when init is null) + sum over j < n of a[j][c] * b[j][c].
void sum_of_products(int64_t C, int64_t n, const float* const* a, const float* const* b,
                     const float* init, float* out) {
  using V = Lanes;
  for (int64_t c = 0; c < C; c += kBlock) {  // whole vectors, then the rest masked
    typename V::Vec s[V::kVecs];
    for (int v = 0; v < V::kVecs; ++v) {
      const int64_t left = C - c - v * V::kWidth;
      s[v] = init && left > 0 ? V::load(init + c + v * V::kWidth, left) : V::zero();
    }
    if (c + kBlock <= C) {
      for (int64_t j = 0; j < n; ++j)
        for (int v = 0; v < V::kVecs; ++v)
          s[v] = V::fma(V::load(a[j] + c + v * V::kWidth, V::kWidth),
                        V::load(b[j] + c + v * V::kWidth, V::kWidth), s[v]);
    } else {
      for (int64_t j = 0; j < n; ++j)
        for (int v = 0; v < V::kVecs; ++v) {
          const int64_t left = C - c - v * V::kWidth;
          if (left > 0)
            s[v] = V::fma(V::load(a[j] + c + v * V::kWidth, left),
                          V::load(b[j] + c + v * V::kWidth, left), s[v]);
        }
    }
    for (int v = 0; v < V::kVecs; ++v)
      if (C - c - v * V::kWidth > 0) V::store(out + c + v * V::kWidth, s[v], C - c - v * V::kWidth);
  }
}

// The outputs o in [0, count) with 0 <= o * stride + offset < limit, as [first, last).
struct Range {
  int64_t first, last;
};
Range valid_outputs(int64_t offset, int64_t stride, int64_t limit, int64_t count) {
  const int64_t first = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = limit - 1 - offset < 0 ? 0 : (limit - 1 - offset) / stride + 1;
  return {first, std::max(first, std::min(count, last))};
}

// Per-thread operand lists: a warm call allocates nothing.
thread_local Scratch<const float*> t_operands_a, t_operands_b;
thread_local Scratch<int64_t> t_pixels, t_taps;

}  // namespace

void depthwise_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       float* y) {
  if (g.F != g.C) return generic::depthwise_forward(g, x, w, bias, y);
  const int64_t C = g.C, count = g.KH * g.KW;
  // Pointers taken once: each thread_local access in a shared library is a call.
  int64_t *pixels = t_pixels.get(count), *taps = t_taps.get(count);
  const float **inputs = t_operands_a.get(count), **weights = t_operands_b.get(count);
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t n = generic::taps_in_image(g, oh, ow, pixels, taps);
      for (int64_t j = 0; j < n; ++j) {
        inputs[j] = x + pixels[j] * C;
        weights[j] = w + taps[j] * C;
      }
      sum_of_products(C, n, inputs, weights, bias, y + (oh * g.OW + ow) * C);
    }
}

void depthwise_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  if (g.F != g.C) return generic::depthwise_backward_data(g, dy, w, dx);
  const int64_t C = g.C;
  const float** grads = t_operands_a.get(g.KH * g.KW);
  const float** weights = t_operands_b.get(g.KH * g.KW);
  // dx at (ih, iw) gathers dy at every (oh, ow) whose tap (kh, kw) reads it.
  for (int64_t ih = 0; ih < g.H; ++ih)
    for (int64_t iw = 0; iw < g.W; ++iw) {
      int64_t n = 0;
      for (int64_t kh = 0; kh < g.KH; ++kh) {
        const int64_t sh = ih + g.PT - kh * g.DH;  // oh * SH
        if (sh < 0 || sh % g.SH != 0 || sh / g.SH >= g.OH) continue;
        for (int64_t kw = 0; kw < g.KW; ++kw) {
          const int64_t sw = iw + g.PL - kw * g.DW;  // ow * SW
          if (sw < 0 || sw % g.SW != 0 || sw / g.SW >= g.OW) continue;
          grads[n] = dy + ((sh / g.SH) * g.OW + sw / g.SW) * C;
          weights[n++] = w + (kh * g.KW + kw) * C;
        }
      }
      sum_of_products(C, n, grads, weights, nullptr, dx + (ih * g.W + iw) * C);
    }
}

void depthwise_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  if (g.F != g.C) return generic::depthwise_backward_filter(g, x, dy, dw);
  using V = Lanes;
  const int64_t C = g.C;
  // Bands of output rows, so a band's dy and input rows stay in cache across
  // the taps; each tap's sums over the band are kept in registers.
  const int64_t band = std::max<int64_t>(1, (int64_t{1} << 14) / (g.OW * C));
  for (int64_t oh0 = 0; oh0 < g.OH; oh0 += band) {
    const int64_t oh1 = std::min(g.OH, oh0 + band);
    for (int64_t kh = 0; kh < g.KH; ++kh) {
      const Range rows = valid_outputs(kh * g.DH - g.PT, g.SH, g.H, oh1);
      for (int64_t kw = 0; kw < g.KW; ++kw) {
        const Range cols = valid_outputs(kw * g.DW - g.PL, g.SW, g.W, g.OW);
        float* dwk = dw + (kh * g.KW + kw) * C;
        const int64_t x_step = g.SW * C;
        for (int64_t c = 0; c < C; c += kBlock) {  // kVecs vectors, the last ones partial
          int64_t left[V::kVecs];
          typename V::Vec s[V::kVecs];
          for (int v = 0; v < V::kVecs; ++v) {
            left[v] = std::max<int64_t>(0, C - c - v * V::kWidth);
            s[v] = V::zero();
          }
          for (int64_t oh = std::max(oh0, rows.first); oh < rows.last; ++oh) {
            const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
            const float* xp = x + (ih * g.W + cols.first * g.SW - g.PL + kw * g.DW) * C + c;
            const float* dyp = dy + (oh * g.OW + cols.first) * C + c;
            for (int64_t ow = cols.first; ow < cols.last; ++ow, xp += x_step, dyp += C)
              for (int v = 0; v < V::kVecs; ++v)
                if (left[v])
                  s[v] = V::fma(V::load(xp + v * V::kWidth, left[v]),
                                V::load(dyp + v * V::kWidth, left[v]), s[v]);
          }
          for (int v = 0; v < V::kVecs; ++v)
            if (left[v])
              V::store(dwk + c + v * V::kWidth,
                       V::add(V::load(dwk + c + v * V::kWidth, left[v]), s[v]), left[v]);
        }
      }
    }
  }
}

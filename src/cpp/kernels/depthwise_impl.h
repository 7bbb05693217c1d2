// The depthwise kernels' source, included once per ISA inside that ISA's
// namespace (depthwise_ref.cpp, depthwise_avx2.cpp), so each copy is compiled
// with its own flags and no symbol is shared between ISAs. The including file
// provides <algorithm>, <cstring> and kernels/scratch.h.
//
// Each kernel visits every (output pixel, in-bounds tap) pair and does one
// channel-vector operation on it. Three channel layouts: m == 1 (the usual
// depthwise), C == 1 (a one-channel input: a direct convolution), and the
// general channel multiplier.

namespace {

// The taps of output pixel (oh, ow) that land inside the image: input pixel
// pixels[j] under tap taps[j] (kh * KW + kw), for j below the count returned.
// Both arrays hold KH * KW entries.
int64_t taps_in_image(const ConvGeometry& g, int64_t oh, int64_t ow, int64_t* pixels,
                      int64_t* taps) {
  int64_t n = 0;
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    const int64_t ih = oh * g.SH - g.PT + kh * g.DH;
    if (ih < 0 || ih >= g.H) continue;
    for (int64_t kw = 0; kw < g.KW; ++kw) {
      const int64_t iw = ow * g.SW - g.PL + kw * g.DW;
      if (iw < 0 || iw >= g.W) continue;
      pixels[n] = ih * g.W + iw;
      taps[n++] = kh * g.KW + kw;
    }
  }
  return n;
}

template <class Op>
void for_each_tap(const ConvGeometry& g, Op op) {
  thread_local Scratch<int64_t> t_pixels, t_taps;  // kept: a warm call allocates nothing
  int64_t *pixels = t_pixels.get(g.KH * g.KW), *taps = t_taps.get(g.KH * g.KW);
  for (int64_t oh = 0; oh < g.OH; ++oh)
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const int64_t n = taps_in_image(g, oh, ow, pixels, taps);
      for (int64_t j = 0; j < n; ++j) op(oh * g.OW + ow, pixels[j], taps[j]);
    }
}

}  // namespace

void depthwise_forward(const ConvGeometry& g, const float* x, const float* w, const float* bias,
                       float* y) {
  const int64_t C = g.C, F = g.F, m = F / C;
  for (int64_t p = 0; p < g.OH * g.OW; ++p) {
    if (bias)
      std::memcpy(y + p * F, bias, sizeof(float) * F);
    else
      std::fill(y + p * F, y + (p + 1) * F, 0.f);
  }
  for_each_tap(g, [&](int64_t p, int64_t i, int64_t t) {
    float* yo = y + p * F;
    const float* xi = x + i * C;
    const float* wk = w + t * F;
    if (m == 1) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) yo[c] += xi[c] * wk[c];
    } else if (C == 1) {
      const float xv = xi[0];
#pragma omp simd
      for (int64_t f = 0; f < F; ++f) yo[f] += xv * wk[f];
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < m; ++j) yo[c * m + j] += xi[c] * wk[c * m + j];
    }
  });
}

void depthwise_backward_data(const ConvGeometry& g, const float* dy, const float* w, float* dx) {
  const int64_t C = g.C, F = g.F, m = F / C;
  std::fill(dx, dx + g.H * g.W * C, 0.f);
  for_each_tap(g, [&](int64_t p, int64_t i, int64_t t) {
    const float* dyo = dy + p * F;
    float* dxi = dx + i * C;
    const float* wk = w + t * F;
    if (m == 1) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dxi[c] += dyo[c] * wk[c];
    } else if (C == 1) {
      float s = 0.f;
#pragma omp simd reduction(+ : s)
      for (int64_t f = 0; f < F; ++f) s += dyo[f] * wk[f];
      dxi[0] += s;
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < m; ++j) dxi[c] += dyo[c * m + j] * wk[c * m + j];
    }
  });
}

void depthwise_backward_filter(const ConvGeometry& g, const float* x, const float* dy, float* dw) {
  const int64_t C = g.C, F = g.F, m = F / C;
  for_each_tap(g, [&](int64_t p, int64_t i, int64_t t) {
    const float* dyo = dy + p * F;
    const float* xi = x + i * C;
    float* dwk = dw + t * F;
    if (m == 1) {
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) dwk[c] += xi[c] * dyo[c];
    } else if (C == 1) {
      const float xv = xi[0];
#pragma omp simd
      for (int64_t f = 0; f < F; ++f) dwk[f] += xv * dyo[f];
    } else {
      for (int64_t c = 0; c < C; ++c)
        for (int64_t j = 0; j < m; ++j) dwk[c * m + j] += xi[c] * dyo[c * m + j];
    }
  });
}

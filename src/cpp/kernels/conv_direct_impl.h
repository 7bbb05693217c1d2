// The direct convolution's addressing, written once for the AVX2 and AVX-512
// kernels (included inside their namespaces, in an anonymous namespace there):
// where each output pixel of a register tile reads, and the runs of
// (tap, channel) values that one broadcast loop covers. The kernel matrix
// comes packed in 16-filter panels: panel j holds, for each of the K rows,
// filters [16j, 16j + 16) (zero past the group's filters). The including file
// provides <algorithm>, <cstdlib>, <new> and kernels/scratch.h.

namespace {

constexpr int kPanelWidth = 16;

// One group's panels, in floats.
inline int64_t filter_panels_size(const ConvGeometry& g) {
  return (g.cout_group() + kPanelWidth - 1) / kPanelWidth * kPanelWidth * g.col_width();
}

thread_local Scratch<float> t_panels, t_zeros;

// The group's panels: from the model's packed weights (`packed`, may be
// null), else packed here, once for every sample of the call's range.
inline const float* group_panels(const ConvGeometry& g, int64_t group, const float* kernel,
                                 const float* packed) {
  if (packed) return packed + group * filter_panels_size(g);
  float* own = t_panels.get(static_cast<size_t>(filter_panels_size(g)));
  avx2::pack_filter_panels(g, group, kernel, own);
  return own;
}

// cin_group() zeros: the row a pixel reads where its tap falls on padding.
inline const float* zero_row(const ConvGeometry& g) {
  float* zero = t_zeros.get(static_cast<size_t>(g.cin_group()));
  std::fill(zero, zero + g.cin_group(), 0.f);
  return zero;
}

// Where an output pixel reads: its sample's input (at the group's first
// channel) and the input position of its top-left tap.
struct PixelOrigin {
  const float* x;
  int64_t h0, w0;
};

// The output pixel the next tile starts at: sample n, row oh, column ow.
// One division where a walk starts, then steps: a division per tile would
// cost as much as a small layer's arithmetic.
struct PixelCursor {
  int64_t n, oh, ow;
  PixelCursor(const ConvGeometry& g, int64_t q) {
    const int64_t P = g.out_pixels();
    n = q / P;
    oh = (q - n * P) / g.OW;
    ow = q - n * P - oh * g.OW;
  }
  void next(const ConvGeometry& g) {
    if (++ow == g.OW) {
      ow = 0;
      if (++oh == g.OH) oh = 0, ++n;
    }
  }
  void advance(const ConvGeometry& g, int64_t count) {
    for (ow += count; ow >= g.OW; ow -= g.OW)
      if (++oh == g.OH) oh = 0, ++n;
  }
};

// The origins of the `rows` pixels from `at` (which moves past them); slots
// past `rows` repeat the last pixel, so a partial tile computes valid values
// that are not stored.
template <int kRows>
inline void pixel_origins(const ConvGeometry& g, const float* xg, PixelCursor& at, int rows,
                          PixelOrigin px[kRows]) {
  const int64_t in_size = g.H * g.W * g.C;
  for (int r = 0; r < kRows; ++r) {
    px[r] = {xg + at.n * in_size, at.oh * g.SH - g.PT, at.ow * g.SW - g.PL};
    at.next(g);
    if (r + 1 < rows) continue;
    for (int s = r + 1; s < kRows; ++s) px[s] = px[r];  // past the range: the last pixel
    return;
  }
}

// Calls run(row, len, panel_row) once per run of the kernel's rows that the
// tile's pixels read contiguously: pixel r's values are row[r][0, len) (a
// zero row where it reads padding) and they meet panel rows [panel_row,
// panel_row + len). Where a kernel row's taps read one contiguous run of
// input for every pixel (no dilation, no groups, all in bounds), the row is
// one run of KW * C values: few channels then cost one pass of address setup
// per kernel row instead of one per tap. `zero` holds cin_group() zeros.
template <int kRows, class Run>
inline void for_each_tap_run(const ConvGeometry& g, const PixelOrigin px[kRows], const float* zero,
                             Run&& run) {
  const int64_t Cg = g.cin_group();
  const bool runs = g.DW == 1 && g.groups == 1;
  const float* row[kRows];
  bool inside = true;  // every tap of every pixel: then no per-run checks
  for (int r = 0; r < kRows; ++r)
    inside = inside && px[r].h0 >= 0 && px[r].h0 + (g.KH - 1) * g.DH < g.H && px[r].w0 >= 0 &&
             px[r].w0 + (g.KW - 1) * g.DW < g.W;
  if (inside) {
    const float* origin[kRows];
    for (int r = 0; r < kRows; ++r) origin[r] = px[r].x + (px[r].h0 * g.W + px[r].w0) * g.C;
    const int64_t step = runs ? g.KW : 1;
    for (int64_t kh = 0; kh < g.KH; ++kh)
      for (int64_t kw = 0; kw < g.KW; kw += step) {
        const int64_t offset = (kh * g.DH * g.W + kw * g.DW) * g.C;
        for (int r = 0; r < kRows; ++r) row[r] = origin[r] + offset;
        run(row, step * Cg, (kh * g.KW + kw) * Cg);
      }
    return;
  }
  for (int64_t kh = 0; kh < g.KH; ++kh) {
    bool whole_row = runs;
    for (int r = 0; r < kRows && whole_row; ++r) {
      const int64_t ih = px[r].h0 + kh * g.DH;
      whole_row = ih >= 0 && ih < g.H && px[r].w0 >= 0 && px[r].w0 + g.KW <= g.W;
    }
    const int64_t step = whole_row ? g.KW : 1;
    for (int64_t kw = 0; kw < g.KW; kw += step) {
      for (int r = 0; r < kRows; ++r) {
        const int64_t ih = px[r].h0 + kh * g.DH, iw = px[r].w0 + kw * g.DW;
        row[r] = (ih < 0 || ih >= g.H || iw < 0 || iw >= g.W) ? zero
                                                              : px[r].x + (ih * g.W + iw) * g.C;
      }
      run(row, step * Cg, (kh * g.KW + kw) * Cg);
    }
  }
}

}  // namespace

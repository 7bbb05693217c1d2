// The planar convolution's forward pass, written once for the AVX2 and
// AVX-512 kernels (included inside their namespaces): with few filters, a
// 16-filter register tile is mostly empty, so the input is copied once into
// zero-padded planes, one per channel, and the output is computed a row
// segment at a time, neighbouring pixels in the lanes of a vector. For
// stride 1 the input a tap needs for a run of pixels is then a contiguous run
// of the plane. Rows are computed at the padded plane width ("wide" rows);
// the extra columns are never stored.
//
// The includer defines, before including it, `struct Lanes` (the vector
// type V, its width kWidth and zero/load/broadcast/fmadd/store_aligned), and
// provides <immintrin.h>, <algorithm>, <cstring>, <cstdlib>, <new>,
// kernels/avx2_lanes.h and kernels/scratch.h. The stores go through 8-lane
// AVX2 transposes, which both ISAs have.

namespace {

// A step reads at most two vectors past a pixel and its tap.
constexpr int64_t kTail = 2 * Lanes::kWidth;

// Zero-padded channel planes of rows [r0, r0 + rows) of a padded NHWC image
// (pad_top/pad_left zeros before it): plane c starts at c * plane_size, rows
// are `width` floats, and every plane ends with a spare row and kTail zeros:
// the wide vectors of the last row, shifted by a tap, read there.
struct Planes {
  const float* data;
  int64_t width, plane_size;
};

Planes make_planes(Scratch<float>& scratch, const float* x, int64_t H, int64_t W, int64_t C,
                   int64_t stride, int64_t pad_top, int64_t pad_left, int64_t r0, int64_t rows,
                   int64_t width) {
  const int64_t plane_size = (rows + 1) * width + kTail;
  float* out = scratch.get(static_cast<size_t>(C * plane_size));
  // Padding may be negative (an input gradient's): columns outside are cut.
  const int64_t w0 = std::max<int64_t>(0, -pad_left), w1 = std::min(W, width - pad_left);
  // Only what no input lands on is zeroed: a batch-1 conv1 otherwise spends
  // as long clearing its planes as copying into them.
  for (int64_t c = 0; c < C; ++c) {
    float* plane = out + c * plane_size;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r0 + r - pad_top;
      float* row = plane + r * width;
      if (h < 0 || h >= H || w0 >= w1) {
        std::memset(row, 0, sizeof(float) * width);
        continue;
      }
      const int64_t lo = w0 + pad_left, hi = w1 + pad_left;  // [lo, hi) is input
      if (lo > 0) std::memset(row, 0, sizeof(float) * lo);
      if (hi < width) std::memset(row + hi, 0, sizeof(float) * (width - hi));
    }
    std::memset(plane + rows * width, 0, sizeof(float) * (width + kTail));  // spare row, tail
  }
  if (w0 < w1) {
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t h = r0 + r - pad_top;
      if (h < 0 || h >= H) continue;
      const float* src = x + (h * W + w0) * stride;
      float* dst = out + r * width + w0 + pad_left;
      if (C == 1 && stride == 1) {  // one plane: the row as it lies
        std::memcpy(dst, src, sizeof(float) * (w1 - w0));
        continue;
      }
      for (int64_t w = 0; w < w1 - w0; ++w, src += stride)
        for (int64_t c = 0; c < C; ++c) dst[c * plane_size + w] = src[c];
    }
  }
  return Planes{out, width, plane_size};
}

// Where each kernel row (kh, kw, c) reads, relative to the output pixel's
// own position in the planes.
const int64_t* tap_offsets(const ConvGeometry& g, const Planes& planes) {
  static thread_local Scratch<int64_t> t_offsets;
  int64_t* offsets = t_offsets.get(static_cast<size_t>(g.col_width()));
  size_t t = 0;
  for (int64_t kh = 0; kh < g.KH; ++kh)
    for (int64_t kw = 0; kw < g.KW; ++kw)
      for (int64_t c = 0; c < g.C; ++c)
        offsets[t++] = c * planes.plane_size + kh * g.DH * planes.width + kw * g.DW;
  return offsets;
}

// Stores `count` (<= 8) pixels of an NHWC output with F <= 8 values per
// pixel at y. Each pixel is stored as 8 lanes, the extra ones landing on the
// pixels after it, which are stored later; a store that would pass `room`
// (the floats this call may write from y) is masked to F lanes.
inline void store_pixels(const __m256 px[8], int count, int64_t room, int64_t F, float* y) {
  const __m256i mask = first_lanes(F);
  for (int j = 0; j < count; ++j) {
    if (j * F + 8 <= room)
      _mm256_storeu_ps(y + j * F, px[j]);
    else
      _mm256_maskstore_ps(y + j * F, mask, px[j]);
  }
}

// Output pixels [p_begin, p_end), kF filters (<= 8), kV vectors of pixels
// per step: acc[f][v] += w[tap][c][f] * plane_c[pixel + offset(tap)].
template <int kF, int kV>
void forward_rows(const ConvGeometry& g, const Planes& planes, int64_t row0, const float* kernel,
                  const float* bias, bool relu, int64_t p_begin, int64_t p_end, float* y) {
  using V = typename Lanes::V;
  constexpr int kStep = kV * Lanes::kWidth;  // pixels per step
  const int64_t F = g.F, OW = g.OW, taps_per_row = g.KW * g.C;
  const int64_t* offsets = tap_offsets(g, planes);
  const __m256 zero = _mm256_setzero_ps();
  for (int64_t p = p_begin; p < p_end;) {
    const int64_t oh = p / OW, ow = p % OW;
    const int count = static_cast<int>(std::min<int64_t>({kStep, OW - ow, p_end - p}));
    V acc[kF][kV];
    for (int f = 0; f < kF; ++f)
      for (int v = 0; v < kV; ++v) acc[f][v] = Lanes::zero();
    // Kernel rows whose input row is padding read only zeros: skipped (in an
    // input gradient, most of the dy rows a border output row would read).
    int64_t kh_lo = 0, kh_hi = g.KH;
    while (kh_lo < kh_hi && oh + kh_lo * g.DH - g.PT < 0) ++kh_lo;
    while (kh_hi > kh_lo && oh + (kh_hi - 1) * g.DH - g.PT >= g.H) --kh_hi;
    // One flat loop over the kernel's rows, so the accumulators stay in registers.
    const float* base = planes.data + (oh - row0) * planes.width + ow;
    const float* w = kernel + kh_lo * taps_per_row * F;
    for (int64_t t = kh_lo * taps_per_row; t < kh_hi * taps_per_row; ++t, w += F) {
      const float* src = base + offsets[t];
      V xv[kV];
      for (int v = 0; v < kV; ++v) xv[v] = Lanes::load(src + Lanes::kWidth * v);
      for (int f = 0; f < kF; ++f) {
        const V wf = Lanes::broadcast(w + f);
        for (int v = 0; v < kV; ++v) acc[f][v] = Lanes::fmadd(wf, xv[v], acc[f][v]);
      }
    }
    // acc leaves registers here, through constant indices only: indexing it
    // by the run-time v below would make the compiler keep it in memory.
    alignas(64) float sums[kF][kStep];
    for (int f = 0; f < kF; ++f)
      for (int v = 0; v < kV; ++v) Lanes::store_aligned(sums[f] + Lanes::kWidth * v, acc[f][v]);
    // Stored 8 pixels at a time, transposed to NHWC.
    for (int e = 0; e < kStep / 8 && 8 * e < count; ++e) {
      __m256 rows[8], px[8];
      for (int f = 0; f < 8; ++f) {
        if (f >= kF) {
          rows[f] = zero;
          continue;
        }
        rows[f] = _mm256_load_ps(sums[f] + 8 * e);
        if (bias) rows[f] = _mm256_add_ps(rows[f], _mm256_broadcast_ss(bias + f));
        if (relu) rows[f] = _mm256_max_ps(rows[f], zero);
      }
      transpose8(rows, px);
      const int n = std::min(8, count - 8 * e);
      store_pixels(px, n, (p_end - p - 8 * e) * F, F, y + (p + 8 * e) * F);
    }
    p += count;
  }
}

// Up to 6 filters: 2 vectors (12 accumulators); 7-8 filters: 1 vector.
template <int kF>
void forward_rows_for(const ConvGeometry& g, const Planes& planes, int64_t row0,
                      const float* kernel, const float* bias, bool relu, int64_t p_begin,
                      int64_t p_end, float* y) {
  constexpr int kV = kF <= 6 ? 2 : 1;
  forward_rows<kF, kV>(g, planes, row0, kernel, bias, relu, p_begin, p_end, y);
}

// The forward pass of one sample's pixels [p_begin, p_end) (see
// conv_forward_planar in kernels/conv.h), the planes in `scratch`.
void planar_forward(Scratch<float>& scratch, const ConvGeometry& g, const float* x,
                    const float* kernel, const float* bias, bool relu, int64_t p_begin,
                    int64_t p_end, float* y) {
  if (p_begin >= p_end) return;
  // Padded rows that output rows [first, last] read.
  const int64_t first = p_begin / g.OW, last = (p_end - 1) / g.OW;
  const int64_t rows = last - first + 1 + (g.KH - 1) * g.DH;
  const int64_t width = g.OW + (g.KW - 1) * g.DW;  // = W + left and right padding
  const Planes planes = make_planes(scratch, x, g.H, g.W, g.C, g.C, g.PT, g.PL, first, rows,
                                    width);
  switch (g.F) {
#define PCV_CASE(n)                                                               \
  case n:                                                                         \
    forward_rows_for<n>(g, planes, first, kernel, bias, relu, p_begin, p_end, y); \
    break;
    PCV_CASE(1) PCV_CASE(2) PCV_CASE(3) PCV_CASE(4)
    PCV_CASE(5) PCV_CASE(6) PCV_CASE(7) PCV_CASE(8)
#undef PCV_CASE
    default:
      std::abort();  // the caller checks planar_forward_applies
  }
}


}  // namespace

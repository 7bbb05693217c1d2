// The pooling kernels' source, included once per ISA inside that ISA's
// namespace (pool_ref.cpp, pool_avx2.cpp). Parallel over samples and output
// rows; channels are innermost, so each window step is a contiguous run of C
// floats. The including file provides <algorithm>, <cstring>, <limits>,
// <vector> and core/threads.h (and <immintrin.h> and kernels/avx2_lanes.h
// where __AVX2__ is defined).

namespace {
struct Window {
  int64_t h0, h1, w0, w1;
};
inline Window window(const PoolGeometry& g, int64_t oh, int64_t ow) {
  const int64_t hs = oh * g.SH - g.PT, ws = ow * g.SW - g.PL;
  return {std::max<int64_t>(hs, 0), std::min(hs + g.KH, g.H), std::max<int64_t>(ws, 0),
          std::min(ws + g.KW, g.W)};
}
}  // namespace

// Calls op(input_offset, output_offset, window) for every output position of
// every sample: input_offset is where the sample's (H, W, C) input starts and
// output_offset where that position's C outputs start. Parallel over samples
// and rows.
template <class Op>
void for_each_window(const PoolGeometry& g, int threads, Op op) {
  threads = threads_for(g.N * g.OH * g.OW * g.C * g.KH * g.KW, threads);
  const int64_t in_size = g.H * g.W * g.C, out_size = g.OH * g.OW * g.C;
  parallel_for(threads, g.N * g.OH, [&](int64_t r) {  // output row r of the batch
    const int64_t n = r / g.OH, oh = r % g.OH;
    for (int64_t ow = 0; ow < g.OW; ++ow)
      op(n * in_size, n * out_size + (oh * g.OW + ow) * g.C, window(g, oh, ow));
  });
}

#if defined(__AVX512F__)
// window_argmax_by_eight's 16 channels at a time, with the comparisons in
// mask registers. Returns the channels done.
inline int64_t window_argmax_by_sixteen(const float* xs, float* yo, int32_t* ao, const Window& w,
                                        int64_t W, int64_t C) {
  const __m512i lanes = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
  int64_t c = 0;
  for (; c + 16 <= C; c += 16) {
    __m512 best = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
    __m512i at = _mm512_add_epi32(
        _mm512_set1_epi32(static_cast<int32_t>((w.h0 * W + w.w0) * C + c)), lanes);
    for (int64_t ih = w.h0; ih < w.h1; ++ih)
      for (int64_t iw = w.w0; iw < w.w1; ++iw) {
        const auto base = static_cast<int32_t>((ih * W + iw) * C + c);
        const __m512 v = _mm512_loadu_ps(xs + base);
        const __mmask16 greater = _mm512_cmp_ps_mask(v, best, _CMP_GT_OQ);  // as below
        best = _mm512_mask_mov_ps(best, greater, v);
        at = _mm512_mask_mov_epi32(at, greater, _mm512_add_epi32(_mm512_set1_epi32(base), lanes));
      }
    _mm512_storeu_ps(yo + c, best);
    _mm512_storeu_si512(ao + c, at);
  }
  return c;
}
#endif

#if defined(__AVX2__)
// Inference's window maximum for channels [0, 8k) of one window, 8V at a
// time: V running maxima in registers, each tap adding one to each of V
// independent chains (one chain would wait out vmaxps's latency at every
// tap; the loop over all channels keeps them in memory). Returns 8k.
template <int V>
inline int64_t window_max_by(const float* xs, float* yo, const Window& w, int64_t W, int64_t C,
                             int64_t c) {
  for (; c + 8 * V <= C; c += 8 * V) {
    __m256 best[V];
    for (int v = 0; v < V; ++v) best[v] = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    for (int64_t ih = w.h0; ih < w.h1; ++ih)
      for (int64_t iw = w.w0; iw < w.w1; ++iw) {
        const float* xi = xs + (ih * W + iw) * C + c;
        for (int v = 0; v < V; ++v)  // max(v, best): std::max(best, v), NaN lost
          best[v] = _mm256_max_ps(_mm256_loadu_ps(xi + 8 * v), best[v]);
      }
    for (int v = 0; v < V; ++v) _mm256_storeu_ps(yo + c + 8 * v, best[v]);
  }
  return c;
}

// The last C - c < 8 channels of one window, through masked loads and stores
// (lanes past C hold maxima of zeros, never stored).
inline void window_max_tail(const float* xs, float* yo, const Window& w, int64_t W, int64_t C,
                            int64_t c) {
  if (c >= C) return;
  const __m256i mask = first_lanes(C - c);
  __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  for (int64_t ih = w.h0; ih < w.h1; ++ih)
    for (int64_t iw = w.w0; iw < w.w1; ++iw)
      best = _mm256_max_ps(_mm256_maskload_ps(xs + (ih * W + iw) * C + c, mask), best);
  _mm256_maskstore_ps(yo + c, mask, best);
}

// Training's window maximum with its index, for channels [c0, c0 + 8k) of
// one window, eight at a time: the running maximum and index stay in
// registers and are stored once (the loop over all channels keeps both in
// memory and reloads them at every tap: twice as slow). Returns c0 + 8k.
inline int64_t window_argmax_by_eight(const float* xs, float* yo, int32_t* ao, const Window& w,
                                      int64_t W, int64_t C, int64_t c0) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  int64_t c = c0;
  for (; c + 8 <= C; c += 8) {
    __m256 best = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
    __m256i at = _mm256_add_epi32(
        _mm256_set1_epi32(static_cast<int32_t>((w.h0 * W + w.w0) * C + c)), lanes);
    for (int64_t ih = w.h0; ih < w.h1; ++ih)
      for (int64_t iw = w.w0; iw < w.w1; ++iw) {
        const auto base = static_cast<int32_t>((ih * W + iw) * C + c);
        const __m256 v = _mm256_loadu_ps(xs + base);
        // ">" keeps the first maximum in window order; NaN never wins.
        const __m256 greater = _mm256_cmp_ps(v, best, _CMP_GT_OQ);
        best = _mm256_blendv_ps(best, v, greater);
        at = _mm256_blendv_epi8(at, _mm256_add_epi32(_mm256_set1_epi32(base), lanes),
                                _mm256_castps_si256(greater));
      }
    _mm256_storeu_ps(yo + c, best);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(ao + c), at);
  }
  return c;
}
#endif

void maxpool2d_f32(const PoolGeometry& g, const float* x, float* y, int32_t* argmax,
                   int threads) {
  if (!argmax) {  // inference: the maximum alone
    for_each_window(g, threads, [&](int64_t in, int64_t out, const Window& w) {
      const float* xs = x + in;
      float* yo = y + out;
#if defined(__AVX2__)
      const int64_t c0 = window_max_by<4>(xs, yo, w, g.W, g.C, 0);
      window_max_tail(xs, yo, w, g.W, g.C, window_max_by<1>(xs, yo, w, g.W, g.C, c0));
#else
#pragma omp simd
      for (int64_t c = 0; c < g.C; ++c) yo[c] = -std::numeric_limits<float>::infinity();
      for (int64_t ih = w.h0; ih < w.h1; ++ih)
        for (int64_t iw = w.w0; iw < w.w1; ++iw) {
          const float* xi = xs + (ih * g.W + iw) * g.C;
#pragma omp simd
          for (int64_t c = 0; c < g.C; ++c) yo[c] = std::max(yo[c], xi[c]);
        }
#endif
    });
    return;
  }
  for_each_window(g, threads, [&](int64_t in, int64_t out, const Window& w) {
    const float* xs = x + in;
    float* yo = y + out;
    int32_t* ao = argmax + out;
    int64_t c0 = 0;  // channels done
#if defined(__AVX512F__)
    c0 = window_argmax_by_sixteen(xs, yo, ao, w, g.W, g.C);
#endif
#if defined(__AVX2__)
    c0 = window_argmax_by_eight(xs, yo, ao, w, g.W, g.C, c0);
#endif
    const int32_t first = static_cast<int32_t>((w.h0 * g.W + w.w0) * g.C);
#pragma omp simd
    for (int64_t c = c0; c < g.C; ++c) {
      yo[c] = -std::numeric_limits<float>::infinity();
      ao[c] = first + static_cast<int32_t>(c);
    }
    for (int64_t ih = w.h0; ih < w.h1; ++ih)
      for (int64_t iw = w.w0; iw < w.w1; ++iw) {
        const int32_t base = static_cast<int32_t>((ih * g.W + iw) * g.C);
        const float* xi = xs + base;
        // Branch-free select so the channel loop vectorises; ">" keeps the
        // first maximum in window order.
#pragma omp simd
        for (int64_t c = c0; c < g.C; ++c) {
          const bool greater = xi[c] > yo[c];
          yo[c] = greater ? xi[c] : yo[c];
          ao[c] = greater ? base + static_cast<int32_t>(c) : ao[c];
        }
      }
  });
}

void maxpool2d_backward_f32(const PoolGeometry& g, const float* dy, const int32_t* argmax,
                            float* dx, int threads) {
  threads = threads_for(g.N * g.H * g.W * g.C, threads);
  const int64_t in_size = g.H * g.W * g.C, out_size = g.OH * g.OW * g.C;
  parallel_for(threads, g.N, [=](int64_t n) {
    float* dxs = dx + n * in_size;
    std::memset(dxs, 0, sizeof(float) * in_size);
    const float* dys = dy + n * out_size;
    const int32_t* as = argmax + n * out_size;
    for (int64_t i = 0; i < out_size; ++i) dxs[as[i]] += dys[i];
  });
}

namespace {
// out[ow, c] = (s[2 ow, c] + s[2 ow + 1, c]) * inv for ow < OW: a row's
// 2-wide windows, from its column sums s.
inline void pair_means(const float* s, int64_t OW, int64_t C, float inv, float* out) {
#if defined(__AVX2__)
  if (C >= 4 && C < 8 && OW > 1) {
    // Few channels (LeNet's 6): one vector per pixel, not C scalar steps. The
    // 8 - C lanes past a pixel are read and written too (masked stores are
    // slow on some CPUs); the next pixel overwrites them, and the last pixel,
    // whose extra lanes would pass the ends, takes the loop below.
    const __m256 scale = _mm256_set1_ps(inv);
    for (int64_t ow = 0; ow + 1 < OW; ++ow, s += 2 * C, out += C)
      _mm256_storeu_ps(
          out, _mm256_mul_ps(_mm256_add_ps(_mm256_loadu_ps(s), _mm256_loadu_ps(s + C)), scale));
    OW = 1;
  }
#endif
  for (int64_t ow = 0; ow < OW; ++ow, s += 2 * C, out += C) {
#pragma omp simd
    for (int64_t c = 0; c < C; ++c) out[c] = (s[c] + s[C + c]) * inv;
  }
}

// Windows that tile the input (no padding, stride = window, every window
// inside; trailing rows or columns may be left out): each
// output row sums KH whole input rows, which vectorises for any channel count.
inline bool tiles_exactly(const PoolGeometry& g) {
  return g.PT == 0 && g.PL == 0 && g.SH == g.KH && g.SW == g.KW && g.OH * g.KH <= g.H &&
         g.OW * g.KW <= g.W;
}
// The same along each row, and rows a window's height apart: output rows
// whose windows lie inside the input's rows sum KH whole input rows.
inline bool rows_tile(const PoolGeometry& g) {
  return g.PL == 0 && g.SW == g.KW && g.OW * g.KW <= g.W && g.SH == g.KH;
}
}  // namespace

namespace {
// One window's mean over its in-bounds part, summed in window order (ih,
// then iw); xs is its sample's input. (Not inlined: both paths below call it.)
[[gnu::noinline]] void window_mean(const PoolGeometry& g, const float* xs, float* yo,
                                   const Window& w) {
#pragma omp simd
  for (int64_t c = 0; c < g.C; ++c) yo[c] = 0.f;
  for (int64_t ih = w.h0; ih < w.h1; ++ih)
    for (int64_t iw = w.w0; iw < w.w1; ++iw) {
      const float* xi = xs + (ih * g.W + iw) * g.C;
#pragma omp simd
      for (int64_t c = 0; c < g.C; ++c) yo[c] += xi[c];
    }
  const float inv = 1.f / static_cast<float>((w.h1 - w.h0) * (w.w1 - w.w0));
#pragma omp simd
  for (int64_t c = 0; c < g.C; ++c) yo[c] *= inv;
}
}  // namespace

void avgpool2d_f32(const PoolGeometry& g, const float* x, float* y, int threads) {
  if (!rows_tile(g)) {
    for_each_window(g, threads, [&](int64_t in, int64_t out, const Window& w) {
      window_mean(g, x + in, y + out, w);
    });
    return;
  }
  threads = threads_for(g.N * g.H * g.W * g.C, threads);
  const int64_t row = g.W * g.C, span = g.OW * g.KW * g.C;
  const float inv = 1.f / static_cast<float>(g.KH * g.KW);
  // Output row r of the batch; s holds span floats of row sums. A row whose
  // windows reach into padding (above or below the input) goes window by
  // window: whether a row does depends on that row alone, so a band of rows
  // (core/row_bands.h) gets each row's values as the whole input does.
  auto pool_row = [&](int64_t r, float* s) {
    const int64_t n = r / g.OH, oh = r % g.OH, top = oh * g.SH - g.PT;
    if (top < 0 || top + g.KH > g.H) {
      for (int64_t ow = 0; ow < g.OW; ++ow)
        window_mean(g, x + n * g.H * row, y + (r * g.OW + ow) * g.C, window(g, oh, ow));
      return;
    }
    const float* src = x + (n * g.H + top) * row;
#pragma omp simd
    for (int64_t k = 0; k < span; ++k) s[k] = src[k];
    for (int64_t i = 1; i < g.KH; ++i)
#pragma omp simd
      for (int64_t k = 0; k < span; ++k) s[k] += src[i * row + k];
    float* out = y + r * g.OW * g.C;
    if (g.KW == 2) {  // the common 2x2 pool: one pass over the row
      pair_means(s, g.OW, g.C, inv, out);
      return;
    }
    for (int64_t ow = 0; ow < g.OW; ++ow) {
      const float* win = s + ow * g.KW * g.C;
      for (int64_t c = 0; c < g.C; ++c) {
        float v = win[c];
        for (int64_t j = 1; j < g.KW; ++j) v += win[j * g.C + c];
        out[ow * g.C + c] = v * inv;
      }
    }
  };
  // Row sums on the stack when they fit: inference allocates nothing.
  constexpr int64_t kStackSpan = 2048;
  auto pool_rows = [&](int64_t r0, int64_t r1) {
    float stack[kStackSpan];
    std::vector<float> heap;
    float* s = stack;
    if (span > kStackSpan) heap.resize(static_cast<size_t>(span)), s = heap.data();
    for (int64_t r = r0; r < r1; ++r) pool_row(r, s);
  };
  const int64_t rows = g.N * g.OH;
  parallel_for(threads, threads, [&](int64_t t) {
    pool_rows(rows * t / threads, rows * (t + 1) / threads);
  });
}

void avgpool2d_backward_f32(const PoolGeometry& g, const float* dy, float* dx, int threads) {
  threads = threads_for(g.N * g.OH * g.OW * g.C * g.KH * g.KW, threads);
  const int64_t in_size = g.H * g.W * g.C, out_size = g.OH * g.OW * g.C;
  if (tiles_exactly(g)) {
    // Each output row's gradient, spread over its window row once, then
    // copied to the KH input rows; rows and columns past the windows get 0.
    const int64_t row = g.W * g.C, span = g.OW * g.KW * g.C;
    const float inv = 1.f / static_cast<float>(g.KH * g.KW);
    parallel_for(threads, g.N, [=](int64_t n) {
      float* dxs = dx + n * in_size;
      if (span < row || g.OH * g.KH < g.H) std::memset(dxs, 0, sizeof(float) * in_size);
      for (int64_t oh = 0; oh < g.OH; ++oh) {
        const float* dyo = dy + n * out_size + oh * g.OW * g.C;
        float* first = dxs + oh * g.KH * row;
        for (int64_t ow = 0; ow < g.OW; ++ow)
          for (int64_t j = 0; j < g.KW; ++j)
            for (int64_t c = 0; c < g.C; ++c)
              first[(ow * g.KW + j) * g.C + c] = dyo[ow * g.C + c] * inv;
        for (int64_t i = 1; i < g.KH; ++i)
          std::memcpy(first + i * row, first, sizeof(float) * span);
      }
    });
    return;
  }
  parallel_for(threads, g.N, [=](int64_t n) {
    float* dxs = dx + n * in_size;
    std::memset(dxs, 0, sizeof(float) * in_size);
    for (int64_t oh = 0; oh < g.OH; ++oh)
      for (int64_t ow = 0; ow < g.OW; ++ow) {
        const Window w = window(g, oh, ow);
        const float* dyo = dy + n * out_size + (oh * g.OW + ow) * g.C;
        const float inv = 1.f / static_cast<float>((w.h1 - w.h0) * (w.w1 - w.w0));
        for (int64_t ih = w.h0; ih < w.h1; ++ih)
          for (int64_t iw = w.w0; iw < w.w1; ++iw) {
            float* dxi = dxs + (ih * g.W + iw) * g.C;
#pragma omp simd
            for (int64_t c = 0; c < g.C; ++c) dxi[c] += dyo[c] * inv;
          }
      }
  });
}


// Packed SGEMM for AVX2 + FMA, compiled with -mavx2 -mfma (this file only).
//
// The classic blocked scheme: op(B) is packed KC x NC at a time into NR-wide
// column panels, op(A) MC x KC at a time into MR-tall row panels, and a 6x16
// register-tiled micro-kernel multiplies one A panel by one B panel. Packing
// also absorbs the transposes, so all four trans_a/trans_b cases share the
// micro-kernel. Everything here lives in pyconv::kernels::avx2 or an anonymous
// namespace so no AVX2 code can be picked by the linker for another ISA.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>

#include "core/threads.h"
#include "kernels/gemm.h"

namespace pyconv::kernels::avx2 {

#include "kernels/avx2_tile.h"

namespace {

constexpr int64_t KC = 320; // most depth per packed block: a B panel (20 KB) stays in L1
constexpr int64_t MC = 120; // rows of one packed A block (120 KB): stays in L2
constexpr int64_t NC = 2048;  // columns of one packed B block (2 MB): stays in L3

#include "kernels/gemm_pack_a_impl.h"
#include "kernels/gemm_pack_impl.h"

// The tile of rows[r][k * ks] times B's first nr <= NR columns, read where
// they lie (b[k * ldb + c]): the unpacked path's micro-kernel. Not inlined:
// inside the driver's loops GCC kept one of the twelve accumulators on the
// stack, a store and reload every depth step (Winograd's small products ran
// 1.5x slower).
[[gnu::noinline]] void tile_rows(int64_t K, const float* const rows[MR], int64_t ks, const float* b, int64_t ldb,
               int nr, TileRegs acc) {
  const __m256i mask[2] = {first_lanes(nr), first_lanes(nr - 8)};
  if (nr == NR)
    micro_kernel_rows<false>(K, rows, ks, b, ldb, mask, acc);
  else
    micro_kernel_rows<true>(K, rows, ks, b, ldb, mask, acc);
}

#include "kernels/gemm_driver_impl.h"

// Stores one vector of C's row: alpha acc + beta C (+ bias), at least 0 with
// ReLU; c and bias are that vector's first column. Masked where not whole
// (masked stores are slow on some CPUs: AMD Zen 3).
inline void store_c_vector(const Problem& p, __m256 acc, float* c, const float* bias,
                           __m256i mask, bool whole) {
  __m256 out = _mm256_mul_ps(_mm256_set1_ps(p.alpha), acc);
  if (p.beta != 0.f)
    out = _mm256_fmadd_ps(_mm256_set1_ps(p.beta),
                          whole ? _mm256_loadu_ps(c) : _mm256_maskload_ps(c, mask), out);
  if (bias) out = _mm256_add_ps(out, whole ? _mm256_loadu_ps(bias) : _mm256_maskload_ps(bias, mask));
  if (p.extras.relu) out = _mm256_max_ps(out, _mm256_setzero_ps());  // as the 6x16 tile does
  if (whole)
    _mm256_storeu_ps(c, out);
  else
    _mm256_maskstore_ps(c, mask, out);
}

// acc[r][v] = sum over k of rows[r][k * ks] * b[k * ldb + 8v ..], 32
// columns (masked past nr where kMasked).
template <bool kMasked>
void wide_tile_sums(int64_t K, const float* const rows[3], int64_t ks, const float* b,
                    int64_t ldb, const __m256i mask[4], __m256 acc[3][4]) {
  __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00,
         c12 = c00, c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00;
  const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2];
  for (int64_t k = 0, o = 0; k < K; ++k, o += ks, b += ldb) {
    const __m256 b0 = kMasked ? _mm256_maskload_ps(b, mask[0]) : _mm256_loadu_ps(b);
    const __m256 b1 = kMasked ? _mm256_maskload_ps(b + 8, mask[1]) : _mm256_loadu_ps(b + 8);
    const __m256 b2 = kMasked ? _mm256_maskload_ps(b + 16, mask[2]) : _mm256_loadu_ps(b + 16);
    const __m256 b3 = kMasked ? _mm256_maskload_ps(b + 24, mask[3]) : _mm256_loadu_ps(b + 24);
    __m256 a = _mm256_broadcast_ss(a0 + o);
    c00 = _mm256_fmadd_ps(a, b0, c00), c01 = _mm256_fmadd_ps(a, b1, c01);
    c02 = _mm256_fmadd_ps(a, b2, c02), c03 = _mm256_fmadd_ps(a, b3, c03);
    a = _mm256_broadcast_ss(a1 + o);
    c10 = _mm256_fmadd_ps(a, b0, c10), c11 = _mm256_fmadd_ps(a, b1, c11);
    c12 = _mm256_fmadd_ps(a, b2, c12), c13 = _mm256_fmadd_ps(a, b3, c13);
    a = _mm256_broadcast_ss(a2 + o);
    c20 = _mm256_fmadd_ps(a, b0, c20), c21 = _mm256_fmadd_ps(a, b1, c21);
    c22 = _mm256_fmadd_ps(a, b2, c22), c23 = _mm256_fmadd_ps(a, b3, c23);
  }
  acc[0][0] = c00, acc[0][1] = c01, acc[0][2] = c02, acc[0][3] = c03;
  acc[1][0] = c10, acc[1][1] = c11, acc[1][2] = c12, acc[1][3] = c13;
  acc[2][0] = c20, acc[2][1] = c21, acc[2][2] = c22, acc[2][3] = c23;
}

// Rows [i0, i0 + mr) of an unpacked product (mr <= 3), 32 columns (two
// panels) from j: 3 x 4 vectors, as many accumulators as the 6x16 tile.
// Not inlined, as tile_rows.
[[gnu::noinline]] void wide_tile_rows(const Problem& p, int64_t i0, int mr, int64_t j,
                                      int64_t row_step, int64_t k_step) {
  const int nr = static_cast<int>(std::min<int64_t>(2 * NR, p.N - j));
  __m256i mask[4];
  for (int v = 0; v < 4; ++v) mask[v] = first_lanes(nr - 8 * v);
  const float* rows[3];  // rows past mr repeat the last one: read, never stored
  for (int r = 0; r < 3; ++r) rows[r] = p.A + (i0 + std::min(r, mr - 1)) * row_step;
  __m256 acc[3][4];
  if (nr == 2 * NR)
    wide_tile_sums<false>(p.K, rows, k_step, p.B + j, p.ldb, mask, acc);
  else
    wide_tile_sums<true>(p.K, rows, k_step, p.B + j, p.ldb, mask, acc);
  for (int r = 0; r < mr; ++r)
    for (int v = 0; v < 4; ++v) {
      if (8 * v >= nr) continue;
      store_c_vector(p, acc[r][v], p.C + (i0 + r) * p.ldc + j + 8 * v,
                     p.extras.bias ? p.extras.bias + j + 8 * v : nullptr, mask[v], nr == 2 * NR);
    }
}

// A last tile of at most 3 rows (Winograd's batch-1 products on 11x11
// outputs have 9: 6 + 3) takes wide_tile_rows, where the 6x16 tile would
// compute twice the rows it stores. Returns the rows left to the main tile.
int64_t last_rows(const Problem& p, int64_t row_step, int64_t k_step) {
  const int64_t rest = p.M % MR;
  if (rest == 0 || rest > 3) return p.M;
  for (int64_t j = 0; j < p.N; j += 2 * NR)
    wide_tile_rows(p, p.M - rest, static_cast<int>(rest), j, row_step, k_step);
  return p.M - rest;
}

// Few rows of C (batch-1 inference): packing B would cost as much as using
// it, so B is streamed once, row by row. A panel of C (R rows x V vectors)
// is summed in registers, a block of the depth at a time (the sums wait in
// memory between blocks), then stored once. With one row, depth steps where
// A is zero (ReLU outputs) are skipped: their rows of B are never read.
// Threads take slices of the columns and, where B is large (depth_chunks),
// chunks of the depth.

thread_local Scratch<int64_t> t_depth;  // the depth steps to visit
thread_local Scratch<float> t_sums;     // the panels' sums, per depth chunk
constexpr int64_t kPrefetchAhead = 8;   // rows of B

inline float a_at(const Problem& p, int64_t i, int64_t k) {
  return p.trans_a ? p.A[k * p.lda + i] : p.A[i * p.lda + k];
}

// The depth steps q in [begin, end) of a panel: depth ks[q], or depth q
// where every depth is visited (ks null).
struct Depth {
  const int64_t* ks;
  int64_t begin, end;
  int64_t at(int64_t q) const { return ks ? ks[q] : q; }
};

// Where the steps [d.begin, d.end) stop having whole-vector loads of
// columns [j, j + 8V) inside B (its last row ends at column N): lanes past
// the panel's columns then read the next columns or row, summed but never
// stored.
int64_t steps_with_room(const Problem& p, const Depth& d, int64_t j, int V) {
  const int64_t over = j + 8 * V - p.N;  // columns read past the last row's end
  if (over <= 0) return d.end;
  const int64_t last_k = p.K - 1 - (over + p.ldb - 1) / p.ldb;
  if (!d.ks) return std::clamp<int64_t>(last_k + 1, d.begin, d.end);
  int64_t full = d.end;
  while (full > d.begin && d.ks[full - 1] > last_k) --full;
  return full;
}

// Where a panel's sums go: rows of C, or the plain sums at sums + r * lds
// (whole vectors: lds is a multiple of 8), which also carry them from one
// block of depth steps to the next.
struct PanelOut {
  float* sums;
  int64_t lds;
  bool to_c;  // the last block stores C (alpha, beta, bias, ReLU) instead
};

// C[0, R) x [j, j + cols) from the depth steps d, one block of them: the
// first block starts from zero, later ones from the sums the block before
// stored; cols <= 8V. Not inlined: inside the slice loop GCC kept an
// accumulator on the stack, a store and reload every depth step. Each
// element sums its depth steps in order, one chain however the steps are
// blocked: a batch-1 row has the bits of the same sample's row in a batch
// of up to 4. Loads are masked only where a whole vector would read past
// B's end.
template <int R, int V>
[[gnu::noinline]] void small_m_panel(const Problem& p, const Depth& d, int64_t j, int64_t cols,
                                     const PanelOut& out, bool first, bool last) {
  const float* const B = p.B + j;
  const int64_t ldb = p.ldb;
  // A(r, k) = A[r * a_row + k * a_k]
  const int64_t a_row = p.trans_a ? 1 : p.lda, a_k = p.trans_a ? p.lda : 1;
  const float* const A = p.A;
  __m256i mask[V];
  for (int v = 0; v < V; ++v) mask[v] = first_lanes(cols - 8 * v);
  float* const sums = out.sums + j;
  __m256 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v)
      acc[r][v] = first || 8 * v >= cols ? _mm256_setzero_ps()
                                         : _mm256_loadu_ps(sums + r * out.lds + 8 * v);
  auto step = [&](int64_t k, bool whole) {
    const float* b = B + k * ldb;
    __m256 bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = whole ? _mm256_loadu_ps(b + 8 * v) : _mm256_maskload_ps(b + 8 * v, mask[v]);
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_set1_ps(A[r * a_row + k * a_k]);
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(a, bv[v], acc[r][v]);
    }
  };
  // Where every depth is visited, rows of B come in order, which the
  // hardware prefetcher follows; skipped rows leave gaps it does not cross,
  // so the row kPrefetchAhead steps on is requested now.
  auto visit = [&](int64_t q, bool whole) {
    if (d.ks) {
      const float* ahead = B + d.ks[std::min(q + kPrefetchAhead, d.end - 1)] * ldb;
      for (int v = 0; v < V; v += 2)
        _mm_prefetch(reinterpret_cast<const char*>(ahead + 8 * v), _MM_HINT_T0);
    }
    step(d.at(q), whole);
  };
  const int64_t full = steps_with_room(p, d, j, V);
  int64_t q = d.begin;
  for (; q < full; ++q) visit(q, true);
  for (; q < d.end; ++q) visit(q, false);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      if (last && out.to_c)
        store_c_vector(p, acc[r][v], p.C + r * p.ldc + j + 8 * v,
                       p.extras.bias ? p.extras.bias + j + 8 * v : nullptr, mask[v], false);
      else if (8 * v < cols)
        _mm256_storeu_ps(sums + r * out.lds + 8 * v, acc[r][v]);
    }
}

// The last cols < 8V columns with as few vectors as cover them: a 10-wide
// output layer then loads 2 vectors of B per depth step, not V.
template <int R, int V>
void small_m_tail(const Problem& p, const Depth& d, int64_t j, int64_t cols, const PanelOut& out,
                  bool first, bool last) {
  if constexpr (V > 1) {
    if (cols <= 8 * (V - 1)) return small_m_tail<R, V - 1>(p, d, j, cols, out, first, last);
  }
  small_m_panel<R, V>(p, d, j, cols, out, first, last);
}

// Columns [j0, j1) panel by panel. Where they take more than one panel,
// the depth goes in blocks of rows of B that stay in L1 (32 KB) while each
// panel reads its columns of them: panels that each walked the whole depth
// read every row once per panel, from L3 (Dense(9216 -> 128) at batch 1:
// 66-70 us a product instead of 85-95, one thread).
constexpr int64_t kBlockBytes = 32 * 1024;
template <int R, int V>
void small_m_rows(const Problem& p, const Depth& d, int64_t j0, int64_t j1, const PanelOut& out) {
  const int64_t steps = j1 - j0 <= 8 * V
                            ? std::max<int64_t>(1, d.end - d.begin)
                            : std::max<int64_t>(16, kBlockBytes / (int64_t{sizeof(float)} * (j1 - j0)));
  int64_t q = d.begin;
  do {  // once at least: a depth with no step still stores C
    const Depth block{d.ks, q, std::min(d.end, q + steps)};
    const bool first = q == d.begin, last = block.end == d.end;
    int64_t j = j0;
    for (; j + 8 * V <= j1; j += 8 * V) small_m_panel<R, V>(p, block, j, 8 * V, out, first, last);
    if (j < j1) small_m_tail<R, V>(p, block, j, j1 - j, out, first, last);
    q = block.end;
  } while (q < d.end);
}

// The depth steps of [k0, k1) to visit: all of them, or with one row those
// where A is nonzero (NaN included), listed in ks[0, count) (k1 - k0 room).
Depth depth_steps(const Problem& p, int64_t k0, int64_t k1, int64_t* ks) {
  if (p.M > 1) return {nullptr, k0, k1};
  int64_t nonzero = 0, k = k0;
  if (!p.trans_a)  // eight at a time: a dense row costs one pass of compares
    for (; k + 8 <= k1; k += 8)
      nonzero += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_loadu_ps(p.A + k), _mm256_setzero_ps(), _CMP_NEQ_UQ))));
  for (; k < k1; ++k) nonzero += a_at(p, 0, k) != 0.f;
  if (nonzero == k1 - k0) return {nullptr, k0, k1};
  int64_t count = 0;
  for (k = k0; k < k1; ++k) {  // branch-free: k is kept when it counts
    ks[count] = k;
    count += a_at(p, 0, k) != 0.f;
  }
  return {ks, 0, count};
}

void small_m(const Problem& p, const Depth& d, int64_t j0, int64_t j1, const PanelOut& out) {
  switch (p.M) {
    case 1: return small_m_rows<1, 8>(p, d, j0, j1, out);
    case 2: return small_m_rows<2, 4>(p, d, j0, j1, out);
    case 3: return small_m_rows<3, 3>(p, d, j0, j1, out);
    default: return small_m_rows<4, 2>(p, d, j0, j1, out);
  }
}

// A B of more than 1 MiB (beyond a core's L2) is summed in depth chunks of
// at least that size, added in order at the end: two threads each stream
// their own rows of B, where slices of every row's columns ran 1.4x slower
// (Dense(9216 -> 128) at batch 1). The chunks follow from B's size alone,
// never the thread count, so results do not depend on it.
constexpr int64_t kChunkFloats = int64_t{1} << 18;
constexpr int64_t kMaxChunks = 8;
int64_t depth_chunks(const Problem& p) {
  return std::clamp<int64_t>(p.K * p.N / kChunkFloats, 1, std::min(kMaxChunks, p.K));
}

// [j0, j1) of slice s of N columns in n slices, on whole vectors.
int64_t slice_start(int64_t N, int64_t s, int64_t n) { return s == n ? N : N * s / n / 8 * 8; }

// Few rows of C streaming B (streams_b) on up to `threads` threads, which
// take chunks of the depth (each listing its own steps) and slices of the
// columns. Where there is more than one chunk, C is their sums added in order.
void streamed(const Problem& p, int threads) {
  // Bound by reading B (from L2 where it fits): a second thread pays from 16k
  // multiply-adds, each streaming its own columns (slices of at least 32):
  // LeNet-5's Dense(400 -> 120) at batch 1, 2.1 -> 1.4 us on two threads.
  const int64_t nt = std::max<int64_t>(
      1, std::min<int64_t>(usable_threads(threads), (p.M * p.N * p.K) >> 14));
  const int64_t chunks = depth_chunks(p);
  const int64_t slices =
      std::max<int64_t>(1, std::min<int64_t>((nt + chunks - 1) / chunks, p.N / 32));
  const int64_t lds = (p.N + 7) / 8 * 8, chunk_size = p.M * lds;
  float* const sums = t_sums.get(static_cast<size_t>(chunks * chunk_size));
  int64_t* const lists = p.M == 1 ? t_depth.get(static_cast<size_t>(slices * p.K)) : nullptr;
  const bool direct = chunks == 1;  // the panels store C
  const int64_t items = chunks * slices;
  // Items are claimed one at a time, so a helper slowed by other work on the
  // machine takes fewer; each has its own sums, whoever runs it.
  parallel_for(static_cast<int>(std::min(nt, items)), items, [&](int64_t item) {
    const int64_t c = item / slices, s = item % slices;
    const int64_t j0 = slice_start(p.N, s, slices), j1 = slice_start(p.N, s + 1, slices);
    // Each chunk lists its steps in its own part of its slice's list.
    const int64_t k0 = p.K * c / chunks, k1 = p.K * (c + 1) / chunks;
    const Depth d = depth_steps(p, k0, k1, lists ? lists + s * p.K + k0 : nullptr);
    small_m(p, d, j0, j1, {sums + c * chunk_size, lds, direct});
    if (direct) finish_block(p.extras, p.C, p.ldc, 0, p.M, j0, j1);
  }, /*dynamic=*/true);
  if (direct) return;
  for (int64_t r = 0; r < p.M; ++r)
    for (int64_t j = 0; j < p.N; j += 8) {
      const float* part = sums + r * lds + j;
      __m256 acc = _mm256_loadu_ps(part);
      for (int64_t c = 1; c < chunks; ++c) acc = _mm256_add_ps(acc, _mm256_loadu_ps(part + c * chunk_size));
      const float* bias = p.extras.bias ? p.extras.bias + j : nullptr;
      store_c_vector(p, acc, p.C + r * p.ldc + j, bias, first_lanes(p.N - j), j + 8 <= p.N);
    }
  finish_block(p.extras, p.C, p.ldc, 0, p.M, 0, p.N);
}

}  // namespace

void sgemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
           const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
           int64_t ldc, int threads, const GemmExtras* extras) {
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {  // no product: the reference handles C = beta * C + extras
    ref::sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, 1, extras);
    return;
  }
  const Problem p = problem(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, extras);
  if (streams_b(p)) {
    streamed(p, threads);
    return;
  }
  blocked(p, threads);
}

int64_t sgemm_packed_b_size(int64_t K, int64_t N) { return K * panels_of(N) * NR; }

void sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  pack_all_of_b(trans_b, K, N, B, ldb, dst);
}

}  // namespace pyconv::kernels::avx2

// Few rows of C (batch-1 inference): packing B would cost as much as using
// it, so B is streamed once, row by row. A panel of C (R rows x V vectors)
// is summed in registers, a block of the depth at a time (the sums wait in
// memory between blocks), then stored once. With one row where a quarter of
// A or more is zero (ReLU outputs), those depth steps are skipped: their
// rows of B are never read.
// Threads take slices of the columns and, where B is large (depth_chunks),
// chunks of the depth.
//
// Included inside an ISA's namespace by the AVX2, AVX-512 and NEON GEMMs,
// after their Problem and these, for a vector of kLanes floats:
//   Vec, Mask; kLanes; mask_first(n) (lanes [0, n)); vzero(); vset1(a);
//   vload(p), vload(p, mask) (masked lanes read as 0); vstore(p, v),
//   vstore(p, mask, v); vfmadd(a, b, c) (a b + c, one rounding); vmul; vadd;
//   vmax(a, b) (b where either is NaN, as maxps does).
// Each element of C is one chain of fused multiply-adds over its depth
// steps in order, whatever the vector width: every ISA gives the same bits.

// Few rows of C with B read where it lies (batch-1 inference): B is streamed.
constexpr int64_t kSmallM = 4;
bool streams_b(const Problem& p) {
  return p.M <= kSmallM && !p.trans_b && !p.extras.pack_a && !p.extras.pack_b;
}

// Stores one vector of C's row: alpha acc + beta C (+ bias), at least 0 with
// ReLU; c and bias are that vector's first column. Masked where not whole
// (masked stores are slow on some CPUs: AMD Zen 3).
inline void store_c_lanes(const Problem& p, Vec acc, float* c, const float* bias, Mask mask,
                          bool whole) {
  Vec out = vmul(vset1(p.alpha), acc);
  if (p.beta != 0.f) out = vfmadd(vset1(p.beta), whole ? vload(c) : vload(c, mask), out);
  if (bias) out = vadd(out, whole ? vload(bias) : vload(bias, mask));
  if (p.extras.relu) out = vmax(out, vzero());  // as the register tiles do
  if (whole)
    vstore(c, out);
  else
    vstore(c, mask, out);
}

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
// columns [j, j + kLanes V) inside B (its last row ends at column N): lanes past
// the panel's columns then read the next columns or row, summed but never
// stored.
int64_t steps_with_room(const Problem& p, const Depth& d, int64_t j, int V) {
  const int64_t over = j + kLanes * V - p.N;  // columns read past the last row's end
  if (over <= 0) return d.end;
  const int64_t last_k = p.K - 1 - (over + p.ldb - 1) / p.ldb;
  if (!d.ks) return std::clamp<int64_t>(last_k + 1, d.begin, d.end);
  int64_t full = d.end;
  while (full > d.begin && d.ks[full - 1] > last_k) --full;
  return full;
}

// Where a panel's sums go: rows of C, or the plain sums at sums + r * lds
// (whole vectors: lds is a multiple of kLanes), which also carry them from one
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
  Mask mask[V];
  for (int v = 0; v < V; ++v) mask[v] = mask_first(cols - kLanes * v);
  float* const sums = out.sums + j;
  Vec acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v)
      acc[r][v] = first || kLanes * v >= cols ? vzero() : vload(sums + r * out.lds + kLanes * v);
  auto step = [&](int64_t k, bool whole) {
    const float* b = B + k * ldb;
    Vec bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = whole ? vload(b + kLanes * v) : vload(b + kLanes * v, mask[v]);
    for (int r = 0; r < R; ++r) {
      const Vec a = vset1(A[r * a_row + k * a_k]);
      for (int v = 0; v < V; ++v) acc[r][v] = vfmadd(a, bv[v], acc[r][v]);
    }
  };
  // Where every depth is visited, rows of B come in order, which the
  // hardware prefetcher follows; skipped rows leave gaps it does not cross,
  // so the row kPrefetchAhead steps on is requested now.
  auto visit = [&](int64_t q, bool whole) {
    if (d.ks) {
      const float* ahead = B + d.ks[std::min(q + kPrefetchAhead, d.end - 1)] * ldb;
      for (int64_t c = 0; c < kLanes * V; c += 16)  // a cache line at a time
        __builtin_prefetch(ahead + c, 0, 3);
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
        store_c_lanes(p, acc[r][v], p.C + r * p.ldc + j + kLanes * v,
                      p.extras.bias ? p.extras.bias + j + kLanes * v : nullptr, mask[v], false);
      else if (kLanes * v < cols)
        vstore(sums + r * out.lds + kLanes * v, acc[r][v]);
    }
}

// The last cols < kLanes V columns with as few vectors as cover them: a
// 10-wide output layer then loads 2 AVX2 vectors of B per depth step, not V.
template <int R, int V>
void small_m_tail(const Problem& p, const Depth& d, int64_t j, int64_t cols, const PanelOut& out,
                  bool first, bool last) {
  if constexpr (V > 1) {
    if (cols <= kLanes * (V - 1)) return small_m_tail<R, V - 1>(p, d, j, cols, out, first, last);
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
  const int64_t steps = j1 - j0 <= kLanes * V
                            ? std::max<int64_t>(1, d.end - d.begin)
                            : std::max<int64_t>(16, kBlockBytes / (int64_t{sizeof(float)} * (j1 - j0)));
  int64_t q = d.begin;
  do {  // once at least: a depth with no step still stores C
    const Depth block{d.ks, q, std::min(d.end, q + steps)};
    const bool first = q == d.begin, last = block.end == d.end;
    int64_t j = j0;
    for (; j + kLanes * V <= j1; j += kLanes * V) small_m_panel<R, V>(p, block, j, kLanes * V, out, first, last);
    if (j < j1) small_m_tail<R, V>(p, block, j, j1 - j, out, first, last);
    q = block.end;
  } while (q < d.end);
}

// The depth steps of [k0, k1) to visit: all of them, or with one row where
// at least a quarter of A is zero, those where it is not (NaN included),
// listed in ks[0, count) (k1 - k0 room). A step from a list costs more than
// one in order, which the hardware prefetcher follows (1.2-1.4x, on Zen 4,
// from L2): LeNet-5's Dense(400 -> 120), with 4% of its inputs zero, took
// 2.3 us skipping them and takes 2.0 visiting every step.
Depth depth_steps(const Problem& p, int64_t k0, int64_t k1, int64_t* ks) {
  if (p.M > 1) return {nullptr, k0, k1};
  int64_t nonzero = 0, k = k0;
#ifdef __AVX2__
  if (!p.trans_a)  // eight at a time: a dense row costs one pass of compares
    for (; k + 8 <= k1; k += 8)
      nonzero += __builtin_popcount(static_cast<unsigned>(_mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_loadu_ps(p.A + k), _mm256_setzero_ps(), _CMP_NEQ_UQ))));
#endif
  for (; k < k1; ++k) nonzero += a_at(p, 0, k) != 0.f;
  if (4 * nonzero > 3 * (k1 - k0)) return {nullptr, k0, k1};
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

// [j0, j1) of slice s of N columns in n slices, on whole vectors (the
// nearest boundaries: 64 + 56 columns of 120 in two, not 48 + 72).
int64_t slice_start(int64_t N, int64_t s, int64_t n) {
  return s == n ? N : (N * s / n + kLanes / 2) / kLanes * kLanes;
}

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
  const int64_t lds = (p.N + kLanes - 1) / kLanes * kLanes, chunk_size = p.M * lds;
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
    for (int64_t j = 0; j < p.N; j += kLanes) {
      const float* part = sums + r * lds + j;
      Vec acc = vload(part);
      for (int64_t c = 1; c < chunks; ++c) acc = vadd(acc, vload(part + c * chunk_size));
      const float* bias = p.extras.bias ? p.extras.bias + j : nullptr;
      store_c_lanes(p, acc, p.C + r * p.ldc + j, bias, mask_first(p.N - j), j + kLanes <= p.N);
    }
  finish_block(p.extras, p.C, p.ldc, 0, p.M, 0, p.N);
}


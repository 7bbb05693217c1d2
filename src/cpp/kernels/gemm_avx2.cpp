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
#include <limits>
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
thread_local Scratch<float> t_pack_a, t_pack_b;

constexpr int64_t kPackSlack = 8;

// Depth per packed block: K split evenly (a multiple of 4), so no thin
// remainder block.
int64_t depth_block(int64_t K) {
  const int64_t k_blocks = (K + KC - 1) / KC;
  return ((K + k_blocks - 1) / k_blocks + 3) / 4 * 4;
}

// Transposes 8 depth steps of MR full rows (rows[r][k0..k0+7]) into packed
// columns dst[k * MR + r]. Each column is stored as 8 lanes, the 2 extra
// lanes landing where the next column goes, to be overwritten by it. The
// last column's extra lanes may land past the panel: the packing buffer has
// kPackSlack floats to spare.
inline void pack_a_rows8(const float* const rows[MR], int64_t k0, float* dst) {
  __m256 in[8], columns[8];
  for (int r = 0; r < MR; ++r) in[r] = _mm256_loadu_ps(rows[r] + k0);
  in[6] = in[7] = _mm256_setzero_ps();
  transpose8(in, columns);
  for (int k = 0; k < 8; ++k) _mm256_storeu_ps(dst + k * MR, columns[k]);
}

// A stored K x M (op(A) = A^T): each packed column of MR values is a
// contiguous run of a row of A. Depth-major, so each row of A is read once
// for all panels. Columns are stored as 8 lanes, the 2 extra landing where
// the panel's next column goes; the last column is stored masked, as its
// extra lanes would hit the next panel.
void pack_a_trans(const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc,
                  float* dst) {
  const int64_t full = mc / MR;  // panels with MR real rows
  const __m256i mask = first_lanes(MR);
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = A + (p0 + k) * lda + i0;
    for (int64_t panel = 0; panel < full; ++panel) {
      const float* s = src + panel * MR;
      float* d = dst + panel * MR * kc + k * MR;
      // 8 lanes are read where 8 values follow in the block; the last panel
      // (which may end the matrix) reads only its MR values.
      const __m256 v = panel * MR + 8 <= mc ? _mm256_loadu_ps(s) : _mm256_maskload_ps(s, mask);
      if (k + 1 < kc)
        _mm256_storeu_ps(d, v);
      else
        _mm256_maskstore_ps(d, mask, v);
    }
  }
  if (full * MR == mc) return;
  const int mr = static_cast<int>(mc - full * MR);
  float* d = dst + full * MR * kc;
  for (int64_t k = 0; k < kc; ++k) {
    const float* src = A + (p0 + k) * lda + i0 + full * MR;
    for (int r = 0; r < MR; ++r) d[k * MR + r] = r < mr ? src[r] : 0.f;
  }
}

// Rows [i0, i0 + mc) and depth [p0, p0 + kc) of op(A), as MR-row panels: for
// each k, MR consecutive values. Rows past mc are zero.
void pack_a(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, float* dst) {
  if (trans) {
    pack_a_trans(A, lda, i0, mc, p0, kc, dst);
    return;
  }
  for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    const float* rows[MR];
    for (int r = 0; r < MR; ++r) rows[r] = A + (i0 + ir + std::min(r, mr - 1)) * lda + p0;
    int64_t k = 0;
    if (mr == MR)
      for (; k + 8 <= kc; k += 8) pack_a_rows8(rows, k, dst + k * MR);
    for (; k < kc; ++k) {
      float* d = dst + k * MR;
      for (int r = 0; r < MR; ++r) d[r] = r < mr ? rows[r][k] : 0.f;
    }
  }
}

#include "kernels/gemm_pack_impl.h"


struct Problem {
  bool trans_a, trans_b;
  int64_t M, N, K;
  int64_t kc;  // depth per block: K split evenly, so no thin remainder block
  float alpha;
  const float* A;
  int64_t lda;
  const float* B;
  int64_t ldb;
  float beta;
  float* C;
  int64_t ldc;
  GemmExtras extras;
};

// C[ic.., j panels] for one packed B block: panels [jp0, jp1) of the block.
void multiply_block(const Problem& p, const float* packed_a, const float* packed_b, int64_t ic,
                    int64_t mc, int64_t jc, int64_t nc, int64_t kc, int64_t jp0, int64_t jp1,
                    float beta, bool last) {
  __m256 acc[MR][2];
  for (int64_t jp = jp0; jp < jp1; ++jp) {
    const int64_t jr = jp * NR;
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jr));
    const float* bp = packed_b + jp * NR * kc;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
      float* c = p.C + (ic + ir) * p.ldc + jc + jr;
      // The tile's rows of C are far apart and usually not cached: their
      // loads (or the stores' line fills) are started now, to be done by the
      // time the depth loop ends.
      for (int r = 0; r < mr; ++r) {
        _mm_prefetch(reinterpret_cast<const char*>(c + r * p.ldc), _MM_HINT_T0);
        _mm_prefetch(reinterpret_cast<const char*>(c + r * p.ldc + nr - 1), _MM_HINT_T0);
      }
      micro_kernel(kc, packed_a + ir * kc, bp, acc);
      const Epilogue ep{last && p.extras.bias ? p.extras.bias + jc + jr : nullptr,
                        last && p.extras.relu};
      store_tile(acc, c, p.ldc, mr, nr, p.alpha, beta, ep);
    }
  }
  if (last) finish_block(p.extras, p.C, p.ldc, ic, mc, jc + jp0 * NR, jc + std::min(jp1 * NR, nc));
}

// Few rows of C (batch-1 inference): packing B would cost as much as using
// it, so B is streamed once, row by row. A panel of C (R rows x V vectors)
// is summed in registers over the whole depth, then stored once. With one
// row, depth steps where A is zero (ReLU outputs) are skipped: their rows
// of B are never read. Threads take slices of the columns.
constexpr int64_t kSmallM = 4;

thread_local Scratch<int64_t> t_depth;  // the depth steps to visit

inline float a_at(const Problem& p, int64_t i, int64_t k) {
  return p.trans_a ? p.A[k * p.lda + i] : p.A[i * p.lda + k];
}

// C[0, R) x [j, j + cols) from depth steps ks[0, nk); cols <= 8V.
template <int R, int V, bool kMasked>
void small_m_panel(const Problem& p, const int64_t* ks, int64_t nk, int64_t j, int64_t cols) {
  __m256i mask[V];
  __m256 acc[R][V];
  for (int v = 0; v < V; ++v) mask[v] = first_lanes(cols - 8 * v);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm256_setzero_ps();
  for (int64_t q = 0; q < nk; ++q) {
    const int64_t k = ks[q];
    const float* b = p.B + k * p.ldb + j;
    __m256 bv[V];
    for (int v = 0; v < V; ++v)
      bv[v] = kMasked ? _mm256_maskload_ps(b + 8 * v, mask[v]) : _mm256_loadu_ps(b + 8 * v);
    for (int r = 0; r < R; ++r) {
      const __m256 a = _mm256_set1_ps(a_at(p, r, k));
      for (int v = 0; v < V; ++v) acc[r][v] = _mm256_fmadd_ps(a, bv[v], acc[r][v]);
    }
  }
  const __m256 alpha = _mm256_set1_ps(p.alpha), beta = _mm256_set1_ps(p.beta);
  const __m256 floor = _mm256_set1_ps(p.extras.relu ? 0.f : -std::numeric_limits<float>::infinity());
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* c = p.C + r * p.ldc + j + 8 * v;
      __m256 out = _mm256_mul_ps(alpha, acc[r][v]);
      if (p.beta != 0.f) out = _mm256_fmadd_ps(beta, _mm256_maskload_ps(c, mask[v]), out);
      if (p.extras.bias)
        out = _mm256_add_ps(out, _mm256_maskload_ps(p.extras.bias + j + 8 * v, mask[v]));
      _mm256_maskstore_ps(c, mask[v], _mm256_max_ps(out, floor));
    }
}

// The last cols < 8V columns with as few vectors as cover them: a 10-wide
// output layer then loads 2 vectors of B per depth step, not V.
template <int R, int V>
void small_m_tail(const Problem& p, const int64_t* ks, int64_t nk, int64_t j, int64_t cols) {
  if constexpr (V > 1) {
    if (cols <= 8 * (V - 1)) return small_m_tail<R, V - 1>(p, ks, nk, j, cols);
  }
  if (cols == 8 * V)  // whole vectors (a thread's slice): plain loads are faster
    small_m_panel<R, V, false>(p, ks, nk, j, cols);
  else
    small_m_panel<R, V, true>(p, ks, nk, j, cols);
}

template <int R, int V>
void small_m_rows(const Problem& p, const int64_t* ks, int64_t nk, int64_t j0, int64_t j1) {
  int64_t j = j0;
  for (; j + 8 * V <= j1; j += 8 * V) small_m_panel<R, V, false>(p, ks, nk, j, 8 * V);
  if (j < j1) small_m_tail<R, V>(p, ks, nk, j, j1 - j);
}

// The depth steps to visit: all of them, or with one row those where A is
// nonzero. Found once per product, before the threads take their slices.
int64_t small_m_depth(const Problem& p, int64_t* ks) {
  if (p.M > 1) {
    for (int64_t k = 0; k < p.K; ++k) ks[k] = k;
    return p.K;
  }
  int64_t nk = 0;
  for (int64_t k = 0; k < p.K; ++k) {  // branch-free: k is kept when it counts
    ks[nk] = k;
    nk += a_at(p, 0, k) != 0.f;
  }
  return nk;
}

void small_m(const Problem& p, const int64_t* ks, int64_t nk, int64_t j0, int64_t j1) {
  switch (p.M) {
    case 1: return small_m_rows<1, 8>(p, ks, nk, j0, j1);
    case 2: return small_m_rows<2, 4>(p, ks, nk, j0, j1);
    case 3: return small_m_rows<3, 3>(p, ks, nk, j0, j1);
    default: return small_m_rows<4, 2>(p, ks, nk, j0, j1);
  }
}

// Operands that fit in L2 together (Winograd's per-block products, small
// dense layers) are read where they lie: packing them would cost about as
// much as the multiply. Each B column panel (K x NR) is used for all rows.
constexpr int64_t kUnpackedBytes = 192 * 1024;

bool fits_unpacked(const Problem& p) {
  return !p.trans_b && !p.extras.pack_a && !p.extras.pack_b &&
         (p.M * p.K + p.K * p.N) * int64_t{sizeof(float)} <= kUnpackedBytes;
}

void unpacked(const Problem& p) {
  // A(r, k) = A[r * row_step + k * k_step]
  const int64_t row_step = p.trans_a ? 1 : p.lda, k_step = p.trans_a ? p.lda : 1;
  __m256 acc[MR][2];
  for (int64_t j = 0; j < p.N; j += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, p.N - j));
    const __m256i mask[2] = {first_lanes(nr), first_lanes(nr - 8)};
    const Epilogue ep{p.extras.bias ? p.extras.bias + j : nullptr, p.extras.relu};
    for (int64_t i = 0; i < p.M; i += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, p.M - i));
      const float* rows[MR];  // rows past mr repeat the last one: read, never stored
      for (int r = 0; r < MR; ++r) rows[r] = p.A + (i + std::min(r, mr - 1)) * row_step;
      if (nr == NR)
        micro_kernel_rows<false>(p.K, rows, k_step, p.B + j, p.ldb, mask, acc);
      else
        micro_kernel_rows<true>(p.K, rows, k_step, p.B + j, p.ldb, mask, acc);
      store_tile(acc, p.C + i * p.ldc + j, p.ldc, mr, nr, p.alpha, p.beta, ep);
    }
  }
  finish_block(p.extras, p.C, p.ldc, 0, p.M, 0, p.N);
}

// Packs a block of op(A), from A or through the caller's packer.
void fill_a(const Problem& p, int64_t ic, int64_t mc, int64_t pc, int64_t kc, float* dst) {
  if (p.extras.pack_a)
    p.extras.pack_a(p.extras.pack_a_ctx, ic, mc, pc, kc, MR, dst);
  else
    pack_a(p.trans_a, p.A, p.lda, ic, mc, pc, kc, dst);
}

// Thread t's share of `count` items in units of `unit`: [begin, end).
struct Range {
  int64_t begin, end;
};
Range share(int64_t count, int64_t unit, int t, int nt) {
  const int64_t units = (count + unit - 1) / unit;
  return {std::min(count, units * t / nt * unit), std::min(count, units * (t + 1) / nt * unit)};
}

// The product, (jc, pc) block by block, on `nt` threads. For each block the
// column panels of op(B) are packed (one parallel job), then multiplied (a
// second one). With many row blocks (at least 4 per thread) each task is
// one MC-row block, claimed one at a time, so a core slowed by other work
// on the machine takes fewer. With fewer, task t of nt takes an equal run of
// whole micro-tiles of rows, cut into blocks of at most MC rows (M = 256 as 3
// blocks of 120 would leave one task 136 rows, the other 120). With fewer
// blocks than threads (skinny M) the tasks split the column panels instead,
// and each packs the A block itself.
void run(const Problem& p, float* packed_b, int nt) {
  const int64_t m_blocks = (p.M + MC - 1) / MC;
  const bool split_rows = m_blocks >= nt, claim_rows = nt > 1 && m_blocks >= 4 * nt;
  for (int64_t jc = 0; jc < p.N; jc += NC) {
    const int64_t nc = std::min(NC, p.N - jc);
    const int64_t panels = (nc + NR - 1) / NR;
    for (int64_t pc = 0; pc < p.K; pc += p.kc) {
      const int64_t kc = std::min(p.kc, p.K - pc);
      const float beta = pc == 0 ? p.beta : 1.f;
      const bool last = pc + kc >= p.K;
      const float* block_b =
          p.extras.packed_b ? p.extras.packed_b + prepacked_offset(p.N, pc, kc, jc) : packed_b;
      if (!p.extras.packed_b)
        parallel_for(nt, panels, [&](int64_t jp) {
          const int64_t j = jc + jp * NR;
          const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jp * NR));
          if (p.extras.pack_b)
            p.extras.pack_b(p.extras.pack_b_ctx, pc, kc, j, nr, NR, packed_b + jp * NR * kc);
          else
            pack_b_panel(p.trans_b, p.B, p.ldb, pc, kc, j, nr, packed_b + jp * NR * kc);
        });
      if (claim_rows) {
        parallel_for(nt, m_blocks, [&](int64_t mb) {
          float* packed_a = t_pack_a.get(static_cast<size_t>(MC * KC + kPackSlack));
          const int64_t ic = mb * MC, mc = std::min(MC, p.M - ic);
          fill_a(p, ic, mc, pc, kc, packed_a);
          multiply_block(p, packed_a, block_b, ic, mc, jc, nc, kc, 0, panels, beta, last);
        }, /*dynamic=*/true);
        continue;
      }
      parallel_for(nt, nt, [&](int64_t task) {
        const int t = static_cast<int>(task);
        float* packed_a = t_pack_a.get(static_cast<size_t>(MC * KC + kPackSlack));
        const Range rows = split_rows ? share(p.M, MR, t, nt) : Range{0, p.M};
        const Range cols = split_rows ? Range{0, panels} : share(panels, 1, t, nt);
        const int64_t run_rows = rows.end - rows.begin, blocks = (run_rows + MC - 1) / MC;
        const int64_t mc_max = blocks ? ((run_rows + blocks - 1) / blocks + MR - 1) / MR * MR : 0;
        for (int64_t ic = rows.begin; ic < rows.end && cols.begin < cols.end; ic += mc_max) {
          const int64_t mc = std::min(mc_max, rows.end - ic);
          fill_a(p, ic, mc, pc, kc, packed_a);
          multiply_block(p, packed_a, block_b, ic, mc, jc, nc, kc, cols.begin, cols.end, beta,
                         last);
        }
      });
    }
  }
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
  const Problem p{trans_a, trans_b, M, N, K, depth_block(K), alpha, A, lda, B, ldb, beta, C, ldc,
                  extras ? *extras : GemmExtras{}};
  // Threads only pay off with enough work per thread (about 2^20 FMAs, ~10
  // us). Called from a parallel task, it runs on that task's thread alone.
  const int64_t work = M * N * K;
  if (pool_in_task()) threads = 1;
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, work >> 20)));
  if (M <= kSmallM && !trans_b && !p.extras.pack_a && !p.extras.pack_b) {
    // Streaming B is memory-bound: worth a second thread at a quarter of the
    // usual work.
    const int64_t stream_threads = std::max<int64_t>(1, std::min<int64_t>(threads, work >> 18));
    const int64_t slices = std::max<int64_t>(1, std::min<int64_t>(stream_threads, N / 64));
    int64_t* ks = t_depth.get(static_cast<size_t>(p.K));
    const int64_t nk = small_m_depth(p, ks);
    parallel_for(static_cast<int>(slices), slices, [&](int64_t s) {
      const int64_t j0 = N * s / slices / 8 * 8, j1 = s + 1 == slices ? N : N * (s + 1) / slices / 8 * 8;
      small_m(p, ks, nk, j0, j1);
      finish_block(p.extras, C, ldc, 0, M, j0, j1);
    });
    return;
  }
  if (nt == 1 && fits_unpacked(p)) {
    unpacked(p);
    return;
  }
  float* packed_b =
      p.extras.packed_b ? nullptr : t_pack_b.get(static_cast<size_t>(KC * (std::min(NC, N) + NR)));
  run(p, packed_b, nt);
}

int64_t sgemm_packed_b_size(int64_t K, int64_t N) { return K * panels_of(N) * NR; }

void sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  pack_all_of_b(trans_b, K, N, B, ldb, dst);
}

}  // namespace pyconv::kernels::avx2

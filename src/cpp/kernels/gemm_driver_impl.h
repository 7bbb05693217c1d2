// The blocked GEMM's driver, shared by the AVX2 and AVX-512 GEMMs: the
// problem, the split of blocks among threads and the path choice. Included
// in their anonymous namespaces after the tile (MR, NR, TileRegs,
// micro_kernel, tile_rows, store_tile, Epilogue), the block sizes (KC, MC, NC), the
// packing (pack_a, depth_block, kPackSlack, kernels/gemm_pack_impl.h). The
// including file provides <algorithm> and kernels/scratch.h.

thread_local Scratch<float> t_pack_a, t_pack_b;  // each thread's packed blocks

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

// The includer's: an unpacked product's rows past its last whole main tile
// may go through a tile of the includer's for them; returns the rows left
// to the main tile.
int64_t last_rows(const Problem& p, int64_t row_step, int64_t k_step);

// C[ic.., j panels] for one packed B block: panels [jp0, jp1) of the block.
void multiply_block(const Problem& p, const float* packed_a, const float* packed_b, int64_t ic,
                    int64_t mc, int64_t jc, int64_t nc, int64_t kc, int64_t jp0, int64_t jp1,
                    float beta, bool last) {
  TileRegs acc;
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

// Operands that fit in L2 together (Winograd's per-block products, small
// dense layers) are read where they lie: packing them would cost about as
// much as the multiply. Each B column panel (K x NR) is used for all rows.
constexpr int64_t kUnpackedBytes = 192 * 1024;

bool fits_unpacked(const Problem& p) {
  return !p.trans_b && !p.extras.pack_a && !p.extras.pack_b &&
         (p.M * p.K + p.K * p.N) * int64_t{sizeof(float)} <= kUnpackedBytes;
}

// The product with both operands read where they lie (fits_unpacked): each
// B column panel is used for all rows; last_rows may take the last few,
// so the main tile does not compute rows it never stores.
void unpacked(const Problem& p) {
  // A(r, k) = A[r * row_step + k * k_step]
  const int64_t row_step = p.trans_a ? 1 : p.lda, k_step = p.trans_a ? p.lda : 1;
  const int64_t M = last_rows(p, row_step, k_step);
  TileRegs acc;
  for (int64_t j = 0; j < p.N; j += NR) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, p.N - j));
    const Epilogue ep{p.extras.bias ? p.extras.bias + j : nullptr, p.extras.relu};
    for (int64_t i = 0; i < M; i += MR) {
      const int mr = static_cast<int>(std::min<int64_t>(MR, M - i));
      const float* rows[MR];  // rows past mr repeat the last one: read, never stored
      for (int r = 0; r < MR; ++r) rows[r] = p.A + (i + std::min(r, mr - 1)) * row_step;
      tile_rows(p.K, rows, k_step, p.B + j, p.ldb, nr, acc);
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

Problem problem(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                int64_t ldc, const GemmExtras* extras) {
  return {trans_a, trans_b, M, N, K, depth_block(K), alpha, A, lda, B, ldb, beta, C, ldc,
          extras ? *extras : GemmExtras{}};
}

// The product through the tile: operands that fit in cache read where they
// lie on one thread, else packed blocks (B packed here unless it comes
// packed) on as many threads as have about 2^20 FMAs (~10 us) each.
void blocked(const Problem& p, int threads) {
  const int nt = static_cast<int>(
      std::max<int64_t>(1, std::min<int64_t>(usable_threads(threads), p.M * p.N * p.K >> 20)));
  if (nt == 1 && fits_unpacked(p)) {
    unpacked(p);
    return;
  }
  float* packed_b = p.extras.packed_b
                        ? nullptr
                        : t_pack_b.get(static_cast<size_t>(KC * (std::min(NC, p.N) + NR)));
  run(p, packed_b, nt);
}

// Packed SGEMM for AArch64's Advanced SIMD (NEON, present on every AArch64
// CPU, so no run-time check is needed).
//
// The blocked scheme of gemm_avx2.cpp with an 8x8 register tile: op(B) is
// packed KC x NC at a time into 8-column panels, op(A) MC x KC at a time into
// 8-row panels, and the micro-kernel keeps the 8x8 tile of C in 16 of the 32
// vector registers, taking each A value from a register lane
// (vfmaq_laneq_f32) rather than broadcasting it from memory. One to four
// rows of C (batch-1 dense layers) stream B instead, as the x86 kernels do.
#include <arm_neon.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/threads.h"
#include "kernels/gemm.h"
#include "kernels/scratch.h"

namespace pyconv::kernels::neon {

namespace {

constexpr int MR = 8;          // rows of C per micro-tile
constexpr int NR = 8;          // columns of C per micro-tile (two q registers)
constexpr int64_t KC = 256;    // most depth per packed block: a B panel (8 KB) stays in L1
constexpr int64_t MC = 128;    // rows of one packed A block (128 KB): stays in L2
constexpr int64_t NC = 1024;   // columns of one packed B block (1 MB)

thread_local std::vector<float> t_pack_a, t_pack_b;

float* grow(std::vector<float>& buffer, int64_t n) {
  if (static_cast<int64_t>(buffer.size()) < n) buffer.resize(static_cast<size_t>(n));
  return buffer.data();
}

// Depth per packed block: K split evenly, so no thin remainder block.
int64_t depth_block(int64_t K) {
  const int64_t blocks = (K + KC - 1) / KC;
  return (K + blocks - 1) / blocks;
}

struct Tile {
  float32x4_t c[MR][2];  // row r, columns [4v, 4v + 4)
};

// tile = one packed A panel (MR values per k) times one packed B panel (NR per k).
inline void micro_kernel(int64_t kc, const float* a, const float* b, Tile& t) {
  float32x4_t c00 = vdupq_n_f32(0.f), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00,
              c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00,
              c61 = c00, c70 = c00, c71 = c00;
  for (int64_t k = 0; k < kc; ++k, a += MR, b += NR) {
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4);
#define PCV_ROW(r, av, lane)                     \
  c##r##0 = vfmaq_laneq_f32(c##r##0, b0, av, lane); \
  c##r##1 = vfmaq_laneq_f32(c##r##1, b1, av, lane);
    PCV_ROW(0, a0, 0) PCV_ROW(1, a0, 1) PCV_ROW(2, a0, 2) PCV_ROW(3, a0, 3)
    PCV_ROW(4, a1, 0) PCV_ROW(5, a1, 1) PCV_ROW(6, a1, 2) PCV_ROW(7, a1, 3)
#undef PCV_ROW
  }
  t = Tile{{{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
            {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}}};
}

// What the final depth block's store adds: the bias of the tile's columns, and ReLU.
struct Epilogue {
  const float* bias;  // null: none
  bool relu;
};

// C tile (mr x nr) = alpha * tile + beta * C (+ epilogue); beta == 0: C is not read.
void store_tile(const Tile& t, float* C, int64_t ldc, int mr, int nr, float alpha, float beta,
                Epilogue ep) {
  if (mr == MR && nr == NR) {
    const float32x4_t zero = vdupq_n_f32(0.f);
    const float32x4_t bias0 = ep.bias ? vld1q_f32(ep.bias) : zero;
    const float32x4_t bias1 = ep.bias ? vld1q_f32(ep.bias + 4) : zero;
    for (int r = 0; r < MR; ++r, C += ldc) {
      float32x4_t v0 = vfmaq_n_f32(bias0, t.c[r][0], alpha);
      float32x4_t v1 = vfmaq_n_f32(bias1, t.c[r][1], alpha);
      if (beta != 0.f) {
        v0 = vfmaq_n_f32(v0, vld1q_f32(C), beta);
        v1 = vfmaq_n_f32(v1, vld1q_f32(C + 4), beta);
      }
      if (ep.relu) v0 = vmaxq_f32(v0, zero), v1 = vmaxq_f32(v1, zero);
      vst1q_f32(C, v0);
      vst1q_f32(C + 4, v1);
    }
    return;
  }
  // A part tile rounds as a whole one does (the bias, then the earlier depth
  // blocks' sum, each in one fused step), so a row's values do not depend on
  // which tile it falls in: where a thread's range or a band of rows ends.
  float tile[MR][NR];
  for (int r = 0; r < MR; ++r) vst1q_f32(tile[r], t.c[r][0]), vst1q_f32(tile[r] + 4, t.c[r][1]);
  for (int r = 0; r < mr; ++r)
    for (int c = 0; c < nr; ++c) {
      float* dst = C + r * ldc + c;
      float v = std::fma(tile[r][c], alpha, ep.bias ? ep.bias[c] : 0.f);
      if (beta != 0.f) v = std::fma(*dst, beta, v);
      *dst = ep.relu ? std::max(v, 0.f) : v;
    }
}

// Rows [i0, i0 + mc) and depth [p0, p0 + kc) of op(A) as MR-row panels
// (dst[(panel * kc + k) * MR + r]); rows past mc are zero.
void pack_a(bool trans, const float* A, int64_t lda, int64_t i0, int64_t mc, int64_t p0,
            int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR, dst += MR * kc) {
    const int mr = static_cast<int>(std::min<int64_t>(MR, mc - ir));
    if (trans) {  // A stored K x M: a panel's column is a run of a row of A
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = A + (p0 + k) * lda + i0 + ir;
        float* d = dst + k * MR;
        if (mr == MR) {
          vst1q_f32(d, vld1q_f32(src));
          vst1q_f32(d + 4, vld1q_f32(src + 4));
        } else {
          for (int r = 0; r < MR; ++r) d[r] = r < mr ? src[r] : 0.f;
        }
      }
      continue;
    }
    for (int r = 0; r < MR; ++r) {  // one row of A at a time, read contiguously
      if (r >= mr) {
        for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = 0.f;
        continue;
      }
      const float* src = A + (i0 + ir + r) * lda + p0;
      for (int64_t k = 0; k < kc; ++k) dst[k * MR + r] = src[k];
    }
  }
}

#include "kernels/gemm_pack_impl.h"


struct Problem {
  bool trans_a, trans_b;
  int64_t M, N, K, kc;
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

void fill_a(const Problem& p, int64_t ic, int64_t mc, int64_t pc, int64_t kc, float* dst) {
  if (p.extras.pack_a)
    p.extras.pack_a(p.extras.pack_a_ctx, ic, mc, pc, kc, MR, dst);
  else
    pack_a(p.trans_a, p.A, p.lda, ic, mc, pc, kc, dst);
}

void fill_b(const Problem& p, int64_t pc, int64_t kc, int64_t j, int nr, float* dst) {
  if (p.extras.pack_b)
    p.extras.pack_b(p.extras.pack_b_ctx, pc, kc, j, nr, NR, dst);
  else
    pack_b_panel(p.trans_b, p.B, p.ldb, pc, kc, j, nr, dst);
}

// Rows [ic, ic + mc) times panels [jp0, jp1) of one packed B block (columns
// from jc, depth [pc, pc + kc)).
void multiply_block(const Problem& p, const float* packed_b, int64_t ic, int64_t mc, int64_t jc,
                    int64_t nc, int64_t pc, int64_t kc, int64_t jp0, int64_t jp1) {
  float* packed_a = grow(t_pack_a, MC * kc);
  fill_a(p, ic, mc, pc, kc, packed_a);
  const float beta = pc == 0 ? p.beta : 1.f;
  const bool last = pc + kc >= p.K;
  Tile tile;
  for (int64_t jp = jp0; jp < jp1; ++jp) {
    const int nr = static_cast<int>(std::min<int64_t>(NR, nc - jp * NR));
    const Epilogue ep{last && p.extras.bias ? p.extras.bias + jc + jp * NR : nullptr,
                      last && p.extras.relu};
    for (int64_t ir = 0; ir < mc; ir += MR) {
      micro_kernel(kc, packed_a + ir * kc, packed_b + jp * NR * kc, tile);
      store_tile(tile, p.C + (ic + ir) * p.ldc + jc + jp * NR, p.ldc,
                 static_cast<int>(std::min<int64_t>(MR, mc - ir)), nr, p.alpha, beta, ep);
    }
  }
  if (last) finish_block(p.extras, p.C, p.ldc, ic, mc, jc + jp0 * NR, jc + std::min(jp1 * NR, nc));
}

// The few-rows kernel's vectors (kernels/gemm_streamed_impl.h): 4 floats.
// Its rows of C cost what they multiply, where the 8x8 tile would compute
// 8 rows for a batch-1 dense layer's one. NEON has no masked loads or
// stores: a part vector goes through a small buffer.
using Vec = float32x4_t;
struct Mask {
  int64_t n;  // lanes [0, n)
};
constexpr int64_t kLanes = 4;
inline Mask mask_first(int64_t n) { return {std::clamp<int64_t>(n, 0, kLanes)}; }
inline Vec vzero() { return vdupq_n_f32(0.f); }
inline Vec vset1(float a) { return vdupq_n_f32(a); }
inline Vec vload(const float* p) { return vld1q_f32(p); }
inline Vec vload(const float* p, Mask m) {
  float lanes[kLanes] = {};
  std::copy(p, p + m.n, lanes);
  return vld1q_f32(lanes);
}
inline void vstore(float* p, Vec v) { vst1q_f32(p, v); }
inline void vstore(float* p, Mask m, Vec v) {
  float lanes[kLanes];
  vst1q_f32(lanes, v);
  std::copy(lanes, lanes + m.n, p);
}
inline Vec vfmadd(Vec a, Vec b, Vec c) { return vfmaq_f32(c, a, b); }
inline Vec vmul(Vec a, Vec b) { return vmulq_f32(a, b); }
inline Vec vadd(Vec a, Vec b) { return vaddq_f32(a, b); }
inline Vec vmax(Vec a, Vec b) { return vbslq_f32(vcgtq_f32(a, b), a, b); }  // maxps's: b for NaN

#include "kernels/gemm_streamed_impl.h"

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
  if (streams_b(p)) {  // B read as given, packed or not
    streamed(p, threads);
    return;
  }
  // Threads pay off from about 2^20 multiply-adds each (as in gemm_avx2.cpp).
  const int nt = static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(threads, M * N * K >> 20)));
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = std::min(NC, N - jc), panels = panels_of(nc);
    for (int64_t pc = 0; pc < K; pc += p.kc) {
      const int64_t kc = std::min(p.kc, K - pc);
      const float* block_b;
      if (p.extras.packed_b) {
        block_b = p.extras.packed_b + prepacked_offset(N, pc, kc, jc);
      } else {
        float* packed = grow(t_pack_b, panels * NR * kc);
        parallel_for(threads_for(kc * nc, nt), panels, [&](int64_t jp) {
          fill_b(p, pc, kc, jc + jp * NR, static_cast<int>(std::min<int64_t>(NR, nc - jp * NR)),
                 packed + jp * NR * kc);
        });
        block_b = packed;
      }
      // Work items: MC-row blocks, each cut into column slices when there
      // are too few blocks to keep every thread busy (skinny M).
      const int64_t row_blocks = (M + MC - 1) / MC;
      const int64_t slices = std::min<int64_t>(panels, std::max<int64_t>(1, 2 * nt / row_blocks));
      parallel_for(nt, row_blocks * slices, [&](int64_t item) {
        const int64_t ic = item / slices * MC, s = item % slices;
        multiply_block(p, block_b, ic, std::min(MC, M - ic), jc, nc, pc, kc,
                       panels * s / slices, panels * (s + 1) / slices);
      }, /*dynamic=*/true);
    }
  }
}

int64_t sgemm_packed_b_size(int64_t K, int64_t N) { return K * panels_of(N) * NR; }

void sgemm_pack_b(bool trans_b, int64_t K, int64_t N, const float* B, int64_t ldb, float* dst) {
  pack_all_of_b(trans_b, K, N, B, ldb, dst);
}

}  // namespace pyconv::kernels::neon

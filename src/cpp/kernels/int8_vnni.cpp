// int8 GEMM with AVX-512 VNNI (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni, this file only): vpdpbusd multiplies 64 unsigned input bytes
// (x + 128, stored so by the caller: Int8Isa::input_offset) by 64 signed
// weights and adds each 4 products into 16 int32 sums, exactly. A tile is
// MR rows by NB 16-channel blocks, its sums kept in registers (every index a
// constant once unrolled, so none is spilled); the sums are requantized in
// vectors with the reference's integer steps.
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32(), which
// -Wmaybe-uninitialized reports at every use once inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "kernels/int8.h"
#include "micro/pcvm_ops.h"

namespace pyconv::kernels::vnni {

#include "kernels/int8_requantize.h"
#include "kernels/int8_requantize_avx512.h"
#include "kernels/scratch.h"

namespace {

// Rows [m0, m0 + rows) of a tile's sums, nb blocks a row: one copy of the
// requantization for every tile shape. A block at a time, so that its
// constants stay in registers for all its rows.
[[gnu::noipa]] void store_rows(const Int8Gemm& g, const Block* blocks, int nb, const int32_t* sums,
                               int64_t m0, int rows) {
  const Requantize requantize(g);
  for (int j = 0; j < nb; ++j) {
    const Block& b = blocks[j];
    int8_t* y = g.y + m0 * g.ldy + b.c0;
    const int32_t* s = sums + j * 16;
    if (!b.vector) {
      for (int r = 0; r < rows; ++r)
        store_block_scalar(g, reinterpret_cast<const int32_t(*)[16]>(s + r * nb * 16), m0 + r, 1, b.c0, b.cols);
      continue;
    }
    for (int r = 0; r < rows; ++r, y += g.ldy) {
      const __m128i bytes = requantize(_mm512_load_si512(s + r * nb * 16), b);
      if (b.cols == 16)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(y), bytes);
      else
        _mm_mask_storeu_epi8(y, b.lanes, bytes);
    }
  }
}

// A block of at most 8 channels for two rows at once: its constants in
// lanes 0-7 and again in 8-15 (see pair_tile).
Block paired(const Block& b) {
  auto twice = [](__m512i v) { return _mm512_shuffle_i64x2(v, v, 0x44); };  // 128-bit lanes 0, 1, 0, 1
  Block p = b;
  p.bias = twice(b.bias), p.mult = twice(b.mult), p.mult_odd = twice(b.mult_odd);
  p.right = twice(b.right), p.mask = twice(b.mask), p.half = twice(b.half);
  p.round_even = twice(b.round_even), p.round_odd = twice(b.round_odd);
  p.down_even = twice(b.down_even), p.down_odd = twice(b.down_odd);
  return p;
}

// Rows [m0, m0 + rows) from a pair tile's sums: row 2i in lanes 0-7 of
// sums[i], row 2i + 1 in lanes 8-15.
[[gnu::noipa]] void store_pairs(const Int8Gemm& g, const Block& b, const int32_t* sums, int64_t m0,
                                int rows) {
  const Requantize requantize(g);
  int8_t* y = g.y + m0 * g.ldy + b.c0;
  for (int r = 0; r < rows; r += 2, y += 2 * g.ldy) {
    const __m128i bytes = requantize(_mm512_load_si512(sums + r / 2 * 16), b);
    _mm_mask_storeu_epi8(y, b.lanes, bytes);
    if (r + 1 < rows) _mm_mask_storeu_epi8(y + g.ldy, b.lanes, _mm_srli_si128(bytes, 8));
  }
}

// Where a tile reads its rows: a + m * lda, the depth in segments of seg
// steps seg_stride apart (see Int8Gemm).
struct Rows {
  const int8_t* a;
  int64_t lda, seg, seg_stride;
};

// acc += MR rows of a (lda apart) times NB blocks of w over depth steps
// [0, n). Every input is broadcast once for all NB blocks. Unrolled at every
// optimisation level (-Os too), so the sums stay in registers.
template <int NB, int MR>
[[gnu::always_inline]] inline void multiply_add(__m512i (&acc)[MR][NB], const int8_t* a, int64_t lda,
                                                const int8_t* w, int64_t block_bytes, int64_t n) {
  int64_t k = 0;
  if (MR == 1) {
    // One row (a dense layer's sample) has one sum per block, too few chains
    // to hide vpdpbusd's latency: every other depth step goes to a second set.
    __m512i odd[NB];
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) odd[j] = _mm512_setzero_si512();
    for (; k + 8 <= n; k += 8) {
      int32_t four[2];
      std::memcpy(four, a + k, 8);
      const __m512i x0 = _mm512_set1_epi32(four[0]);
      const __m512i x1 = _mm512_set1_epi32(four[1]);
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) {
        acc[0][j] = _mm512_dpbusd_epi32(acc[0][j], x0, _mm512_loadu_si512(w + j * block_bytes + k * 16));
        odd[j] = _mm512_dpbusd_epi32(odd[j], x1, _mm512_loadu_si512(w + j * block_bytes + k * 16 + 64));
      }
    }
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[0][j] = _mm512_add_epi32(acc[0][j], odd[j]);
  }
  for (; k < n; k += 4) {
    __m512i wv[NB];
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_si512(w + j * block_bytes + k * 16);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      int32_t four;
      std::memcpy(&four, a + r * lda + k, 4);
      const __m512i x = _mm512_set1_epi32(four);
#pragma GCC unroll 4
      for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], x, wv[j]);
    }
  }
}

// The sums of MR rows by NB blocks from w, segment by segment, into
// sums[MR][NB][16] (bias in them for vector blocks). Stored, then
// requantized: requantizing straight from the registers makes GCC keep a
// copy of every sum on the stack in the loop.
template <int NB, int MR>
[[gnu::always_inline]] inline void accumulate(const Int8Gemm& g, const Rows& in, const int8_t* w,
                                              const Block* blocks, int32_t* sums) {
  __m512i acc[MR][NB];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) acc[r][j] = blocks[j].vector ? blocks[j].bias : _mm512_setzero_si512();
  for (int64_t k0 = 0, s = 0; k0 < g.kp; k0 += in.seg, ++s)
    multiply_add<NB, MR>(acc, in.a + s * in.seg_stride, in.lda, w + k0 * 16, g.kp * 16, in.seg);
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int j = 0; j < NB; ++j) _mm512_store_si512(sums + (r * NB + j) * 16, acc[r][j]);
}

// MR rows by NB blocks: rows [m0, m0 + rows) of the output, rows <= MR;
// or, where `keep` is given, their sums there ([MR][NB][16]) and no output.
template <int NB, int MR>
[[gnu::noinline]] void tile(const Int8Gemm& g, const Rows& in, const int8_t* w, const Block* blocks,
                            int64_t m0, int rows, int32_t* keep = nullptr) {
  alignas(64) int32_t sums[MR][NB][16];
  accumulate<NB, MR>(g, in, w, blocks, keep ? keep : sums[0][0]);
  if (!keep) store_rows(g, blocks, NB, sums[0][0], m0, rows);
}

// Each 2x2 block of two rows' sums (rows[0], rows[1]: MR x nb x 16 each,
// pixels [m0, m0 + pixels) of their output rows) pooled (Int8Gemm::pool_2x2):
// pooled pixels [m0 / 2, (m0 + pixels) / 2) of y. Every block is a vector one.
template <bool Average>
[[gnu::noipa]] void store_pooled(const Int8Gemm& g, const Block* blocks, int nb, const int32_t* rows0,
                                 const int32_t* rows1, int8_t* y, int64_t m0, int pixels) {
  const Requantize requantize(g);
  for (int j = 0; j < nb; ++j) {
    const Block& b = blocks[j];
    for (int q = 0; 2 * q + 1 < pixels; ++q) {
      auto at = [&](const int32_t* rows, int r) { return _mm512_load_si512(rows + ((2 * q + r) * nb + j) * 16); };
      __m128i bytes;
      if constexpr (Average) {
        const __m512i top = _mm512_add_epi32(requantize.values(at(rows0, 0), b), requantize.values(at(rows0, 1), b));
        const __m512i bottom =
            _mm512_add_epi32(requantize.values(at(rows1, 0), b), requantize.values(at(rows1, 1), b));
        bytes = _mm512_cvtepi32_epi8(mean_of_4(_mm512_add_epi32(top, bottom)));
      } else {  // the largest sum's output is the largest output
        const __m512i top = _mm512_max_epi32(at(rows0, 0), at(rows0, 1));
        const __m512i bottom = _mm512_max_epi32(at(rows1, 0), at(rows1, 1));
        bytes = requantize(_mm512_max_epi32(top, bottom), b);
      }
      _mm_mask_storeu_epi8(y + (m0 / 2 + q) * g.ldy + b.c0, b.lanes, bytes);
    }
  }
}

// One tile (tile<NB, MR>), for code that takes any tile shape.
using Tile = void (*)(const Int8Gemm&, const Rows&, const int8_t*, const Block*, int64_t, int, int32_t*);

// Pairs of output rows (g's repeats) by nb blocks from block b0, pooled
// over 2x2 (Int8Gemm::pool_2x2): both rows' tiles of mr pixels (sums) at
// each position, then their pooled outputs. One copy for every tile shape;
// mr is even, so pixel pairs never straddle tiles.
[[gnu::noinline]] void pooled_rows_of(const Int8Gemm& g, int64_t b0, const Block* blocks, int nb, int mr,
                                      Tile tile_of) {
  const int8_t* w = static_cast<const int8_t*>(g.w) + b0 * g.kp * 16;
  alignas(64) int32_t sums[2][24 * 16];  // the largest tile: 24 vectors (12 x 2, 8 x 3, 6 x 4)
  for (int64_t i = 0; 2 * i + 1 < g.repeats; ++i)
    for (int64_t m0 = 0; m0 + 1 < g.M; m0 += mr) {
      for (int r = 0; r < 2; ++r)
        tile_of(g, {g.a + (2 * i + r) * g.a_step + m0 * g.lda, g.lda, g.seg, g.seg_stride}, w, blocks, m0, 0,
                sums[r]);
      const int pixels = static_cast<int>(std::min<int64_t>(mr, g.M - m0));
      if (g.pool_2x2 == Int8Gemm::kAverage)
        store_pooled<true>(g, blocks, nb, sums[0], sums[1], g.y + i * g.y_step, m0, pixels);
      else
        store_pooled<false>(g, blocks, nb, sums[0], sums[1], g.y + i * g.y_step, m0, pixels);
    }
}

// MR rows of one block of at most 8 channels (a LeNet-5 first layer's 6, a
// depthwise layer's 1 or 2), two rows a vector: lanes 0-7 sum row 2i's
// products with the block's weights, lanes 8-15 row 2i + 1's with the same
// weights, so that one vpdpbusd and one requantization serve two rows, where
// a row a vector would leave half of every vector or more unused. b is
// paired(); its channels fit 32-bit lanes (see Block::vector).
template <int MR>
[[gnu::noinline]] void pair_tile(const Int8Gemm& g, const Rows& in, const int8_t* w, const Block& b,
                                 int64_t m0, int rows) {
  constexpr int P = MR / 2;
  __m512i acc[P];
#pragma GCC unroll 8
  for (int i = 0; i < P; ++i) acc[i] = b.bias;
  for (int64_t k0 = 0, s = 0; k0 < g.kp; k0 += in.seg, ++s) {
    const int8_t* a = in.a + s * in.seg_stride;
    for (int64_t k = 0; k < in.seg; k += 4) {
      const __m512i wv = _mm512_loadu_si512(w + (k0 + k) * 16);
      const __m512i both = _mm512_shuffle_i64x2(wv, wv, 0x44);  // channels 0-7, twice
#pragma GCC unroll 8
      for (int i = 0; i < P; ++i) {
        int32_t even, odd;
        std::memcpy(&even, a + 2 * i * in.lda + k, 4);
        std::memcpy(&odd, a + (2 * i + 1) * in.lda + k, 4);
        const __m512i x = _mm512_mask_set1_epi32(_mm512_set1_epi32(even), 0xFF00, odd);
        acc[i] = _mm512_dpbusd_epi32(acc[i], x, both);
      }
    }
  }
  alignas(64) int32_t sums[P][16];
#pragma GCC unroll 8
  for (int i = 0; i < P; ++i) _mm512_store_si512(sums[i], acc[i]);
  store_pairs(g, b, sums[0], m0, rows);
}

// One tile of either kind (Pairs: pair_tile, for one paired block).
template <int NB, int MR, bool Pairs>
inline void any_tile(const Int8Gemm& g, const Rows& in, const int8_t* w, const Block* blocks,
                     int64_t m0, int rows) {
  if constexpr (Pairs)
    pair_tile<MR>(g, in, w, blocks[0], m0, rows);
  else
    tile<NB, MR>(g, in, w, blocks, m0, rows);
}

thread_local Scratch<int8_t> t_tail;

// All rows times NB blocks from block b0. The last rows, fewer than MR, are
// read where they lie if the caller says the rows past them are readable,
// else copied to a buffer of MR rows (zeros past them, the segments joined),
// so that the tile reads nothing past the input.
template <int NB, int MR, bool Pairs = false>
void rows_of(const Int8Gemm& g, int64_t b0, const Block* blocks) {
  static_assert(MR <= kInt8TailRows, "a tile reads at most kInt8TailRows rows past M");
  const int8_t* w = static_cast<const int8_t*>(g.w) + b0 * g.kp * 16;
  int64_t m0 = 0;
  for (; m0 + MR <= g.M || (g.tail_readable && m0 < g.M); m0 += MR)
    any_tile<NB, MR, Pairs>(g, {g.a + m0 * g.lda, g.lda, g.seg, g.seg_stride}, w, blocks, m0,
                            static_cast<int>(std::min<int64_t>(MR, g.M - m0)));
  if (m0 >= g.M) return;
  const int rows = static_cast<int>(g.M - m0);
  int8_t* tail = t_tail.get(static_cast<size_t>(MR * g.kp));
  std::memset(tail, 0, static_cast<size_t>(MR * g.kp));
  for (int r = 0; r < rows; ++r)
    for (int64_t k0 = 0; k0 < g.kp; k0 += g.seg)
      std::memcpy(tail + r * g.kp + k0, g.a + (m0 + r) * g.lda + k0 / g.seg * g.seg_stride,
                  static_cast<size_t>(g.seg));
  any_tile<NB, MR, Pairs>(g, {tail, g.kp, g.kp, 0}, w, blocks, m0, rows);
}

}  // namespace

void int8_gemm(const Int8Gemm& product) {
  const int64_t blocks = (product.n + 15) / 16;
  // Tiles of 10 rows where they waste fewer than 12's on the last tile (a
  // 10-pixel output row: 0 rows against 2; LeNet-5's second layer).
  const bool tens = (10 - product.M % 10) % 10 < (12 - product.M % 12) % 12;
  for (int64_t b0 = 0; b0 < blocks; b0 += 4) {
    const int nb = static_cast<int>(std::min<int64_t>(4, blocks - b0));
    Block params[4];
    for (int j = 0; j < nb; ++j) params[j] = block_at(product, (b0 + j) * 16);
    if (product.pool_2x2 != Int8Gemm::kNoPool) {
      static_assert(kInt8TailRows >= 12, "the pooled tiles read up to 12 rows past M");
      switch (nb) {  // the tiles below, all of an even height
        case 1: pooled_rows_of(product, b0, params, 1, tens ? 10 : 12, tens ? tile<1, 10> : tile<1, 12>); break;
        case 2: pooled_rows_of(product, b0, params, 2, tens ? 10 : 12, tens ? tile<2, 10> : tile<2, 12>); break;
        case 3: pooled_rows_of(product, b0, params, 3, 8, tile<3, 8>); break;
        default: pooled_rows_of(product, b0, params, 4, 6, tile<4, 6>);
      }
      continue;
    }
    const bool pairs = product.M > 1 && nb == 1 && params[0].cols <= 8 && params[0].vector;  // two rows a vector
    if (pairs) params[0] = paired(params[0]);
    for_each_repeat(product, [&](const Int8Gemm& g) {
      if (g.M == 1) {  // a dense layer's one row: each weight is used once
        switch (nb) {
          case 1: return rows_of<1, 1>(g, b0, params);
          case 2: return rows_of<2, 1>(g, b0, params);
          case 3: return rows_of<3, 1>(g, b0, params);
          default: return rows_of<4, 1>(g, b0, params);
        }
      }
      if (pairs) return rows_of<1, 12, true>(g, b0, params);
      switch (nb) {  // 12 to 24 sums in registers
        case 1: return tens ? rows_of<1, 10>(g, b0, params) : rows_of<1, 12>(g, b0, params);
        case 2: return tens ? rows_of<2, 10>(g, b0, params) : rows_of<2, 12>(g, b0, params);
        case 3: return rows_of<3, 8>(g, b0, params);
        default: return rows_of<4, 6>(g, b0, params);
      }
    });
  }
}

}  // namespace pyconv::kernels::vnni

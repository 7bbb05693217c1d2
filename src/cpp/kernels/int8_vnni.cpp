// int8 GEMM with AVX-512 VNNI (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni, this file only): vpdpbusd multiplies 64 unsigned input bytes
// (x + 128) by 64 signed weights and adds each 4 products into 16 int32
// sums, exactly. A tile is 4 rows by up to four 16-channel blocks; the sums
// are requantized in vectors with the reference's integer steps.
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_epi32(), which
// -Wmaybe-uninitialized reports at every use once inlined.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8.h"
#include "micro/pcvm_ops.h"

namespace pyconv::kernels::vnni {

#include "kernels/int8_requantize.h"

namespace {


// round(a * b / 2^31) for 16 lanes, b >= 0 (the reference's
// rounding_doubling_high_mul; its one saturating case needs b = INT32_MIN).
inline __m512i doubling_high_mul(__m512i a, __m512i b) {
  auto half = [](__m512i ab) {  // ab: 8 int64 products
    const __m512i nudge = _mm512_mask_blend_epi64(_mm512_cmplt_epi64_mask(ab, _mm512_setzero_si512()),
                                                  _mm512_set1_epi64(1 << 30),
                                                  _mm512_set1_epi64(1 - (1 << 30)));
    __m512i t = _mm512_add_epi64(ab, nudge);
    // C division truncates toward zero: floor after adding 2^31 - 1 to negatives.
    t = _mm512_mask_add_epi64(t, _mm512_cmplt_epi64_mask(t, _mm512_setzero_si512()), t,
                              _mm512_set1_epi64((int64_t{1} << 31) - 1));
    return _mm512_srai_epi64(t, 31);
  };
  const __m512i even = half(_mm512_mul_epi32(a, b));
  const __m512i odd = half(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), _mm512_srli_epi64(b, 32)));
  return _mm512_mask_blend_epi32(0xAAAA, even, _mm512_slli_epi64(odd, 32));
}

// x / 2^e rounded half away from zero, e >= 0 per lane.
inline __m512i rounding_divide(__m512i x, __m512i e) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, e), one);
  const __m512i remainder = _mm512_and_si512(x, mask);
  const __m512i threshold = _mm512_mask_add_epi32(_mm512_srai_epi32(mask, 1),
                                                  _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()),
                                                  _mm512_srai_epi32(mask, 1), one);
  return _mm512_mask_add_epi32(_mm512_srav_epi32(x, e),
                               _mm512_cmpgt_epi32_mask(remainder, threshold),
                               _mm512_srav_epi32(x, e), one);
}

// One 16-channel block's requantization: its bias, multipliers and right
// shifts as vectors, and whether it can use them (no left shift).
struct Block {
  int64_t c0, cols;
  __mmask16 lanes;
  bool vector;
  __m512i bias, mult, right;
};

Block block_at(const Int8Gemm& g, int64_t c0) {
  Block b;
  b.c0 = c0;
  b.cols = std::min<int64_t>(16, g.n - c0);
  b.lanes = static_cast<__mmask16>((1u << b.cols) - 1);
  b.vector = !any_left_shift(g, c0, b.cols);
  b.bias = _mm512_maskz_loadu_epi32(b.lanes, g.bias + c0);
  b.mult = _mm512_maskz_loadu_epi32(b.lanes, g.multiplier + c0);
  b.right = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_maskz_loadu_epi32(b.lanes, g.shift + c0));
  return b;
}

// Requantizes one row's sums of one block and stores them.
[[gnu::always_inline]] inline void store_row(const Int8Gemm& g, const Block& b, __m512i acc, int64_t m) {
  if (!b.vector) {
    alignas(64) int32_t tile[1][16];
    _mm512_store_si512(tile[0], acc);
    store_block_scalar(g, tile, m, 1, b.c0, b.cols);
    return;
  }
  __m512i v = rounding_divide(doubling_high_mul(_mm512_add_epi32(acc, b.bias), b.mult), b.right);
  v = _mm512_add_epi32(v, _mm512_set1_epi32(g.out_zp));
  v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(g.act_min)), _mm512_set1_epi32(g.act_max));
  _mm_mask_storeu_epi8(g.y + m * g.ldy + b.c0, b.lanes, _mm512_cvtepi32_epi8(v));
}

// Rows [m0, m0 + rows) times NB blocks from block b0: each input broadcast
// once for all NB blocks.
// MR rows (at most; `rows` of them real) by NB blocks: 8 x 1, 8 x 2 or 4 x 4
// accumulators. A full tile (kFull) has no row checks in its loop.
template <int NB, int MR, bool kFull>
void tile(const Int8Gemm& g, const int8_t* w, int64_t b0, const Block* blocks, int64_t m0, int rows) {
  const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u));
  __m512i acc[MR][NB];
  for (auto& row : acc)
    for (__m512i& v : row) v = _mm512_setzero_si512();
  const int8_t* a = g.a + m0 * g.lda;
  const int64_t block_bytes = g.kp * 16;
  for (int64_t k = 0; k < g.kp; k += 4) {
    __m512i wv[NB];
    for (int j = 0; j < NB; ++j) wv[j] = _mm512_loadu_si512(w + (b0 + j) * block_bytes + k * 16);
    for (int r = 0; r < MR; ++r) {
      if (!kFull && r >= rows) break;
      int32_t four;
      std::memcpy(&four, a + r * g.lda + k, 4);
      const __m512i x = _mm512_xor_si512(_mm512_set1_epi32(four), flip);
      for (int j = 0; j < NB; ++j) acc[r][j] = _mm512_dpbusd_epi32(acc[r][j], x, wv[j]);
    }
  }
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < NB; ++j) store_row(g, blocks[j], acc[r][j], m0 + r);
}

template <int NB, int MR>
void rows_of(const Int8Gemm& g, const int8_t* w, int64_t b0, const Block* blocks) {
  int64_t m0 = 0;
  for (; m0 + MR <= g.M; m0 += MR) tile<NB, MR, true>(g, w, b0, blocks, m0, MR);
  if (m0 < g.M) tile<NB, MR, false>(g, w, b0, blocks, m0, static_cast<int>(g.M - m0));
}

}  // namespace

void int8_gemm(const Int8Gemm& g) {
  const auto* w = static_cast<const int8_t*>(g.w);
  const int64_t blocks = (g.n + 15) / 16;
  for (int64_t b0 = 0; b0 < blocks; b0 += 4) {
    const int nb = static_cast<int>(std::min<int64_t>(4, blocks - b0));
    Block params[4];
    for (int j = 0; j < nb; ++j) params[j] = block_at(g, (b0 + j) * 16);
    switch (nb) {
      case 1: rows_of<1, 8>(g, w, b0, params); break;
      case 2: rows_of<2, 8>(g, w, b0, params); break;
      case 3: rows_of<3, 4>(g, w, b0, params); break;
      default: rows_of<4, 4>(g, w, b0, params); break;
    }
  }
}

}  // namespace pyconv::kernels::vnni

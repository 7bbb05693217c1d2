// int8 GEMM with AVX-512 VNNI (compiled with -mavx512f -mavx512bw -mavx512vl
// -mavx512vnni, this file only): vpdpbusd multiplies 64 unsigned input bytes
// (x + 128) by 64 signed weights and adds each 4 products into 16 int32
// sums, exactly. A tile is 8 rows by one 16-channel block; the sums are
// requantized in vectors with the reference's integer steps.
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

constexpr int MR = 8;

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

void block(const Int8Gemm& g, const int8_t* w, int64_t c0) {
  const int64_t cols = std::min<int64_t>(16, g.n - c0);
  const __mmask16 lanes = static_cast<__mmask16>((1u << cols) - 1);
  const bool vector_store = !any_left_shift(g, c0, cols);
  const __m512i bias = _mm512_maskz_loadu_epi32(lanes, g.bias + c0);
  const __m512i mult = _mm512_maskz_loadu_epi32(lanes, g.multiplier + c0);
  const __m512i right = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_maskz_loadu_epi32(lanes, g.shift + c0));
  const __m512i flip = _mm512_set1_epi32(static_cast<int32_t>(0x80808080u));
  for (int64_t m0 = 0; m0 < g.M; m0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, g.M - m0));
    __m512i acc[MR];
    for (int r = 0; r < MR; ++r) acc[r] = _mm512_setzero_si512();
    const int8_t* a = g.a + m0 * g.lda;
    for (int64_t k = 0; k < g.kp; k += 4) {
      const __m512i wv = _mm512_loadu_si512(w + k * 16);
      for (int r = 0; r < MR; ++r) {
        if (r >= rows) break;
        int32_t four;
        std::memcpy(&four, a + r * g.lda + k, 4);
        acc[r] = _mm512_dpbusd_epi32(acc[r], _mm512_xor_si512(_mm512_set1_epi32(four), flip), wv);
      }
    }
    if (!vector_store) {
      alignas(64) int32_t tile[MR][16];
      for (int r = 0; r < rows; ++r) _mm512_store_si512(tile[r], acc[r]);
      store_block_scalar(g, tile, m0, rows, c0, cols);
      continue;
    }
    for (int r = 0; r < rows; ++r) {
      __m512i v = rounding_divide(doubling_high_mul(_mm512_add_epi32(acc[r], bias), mult), right);
      v = _mm512_add_epi32(v, _mm512_set1_epi32(g.out_zp));
      v = _mm512_min_epi32(_mm512_max_epi32(v, _mm512_set1_epi32(g.act_min)), _mm512_set1_epi32(g.act_max));
      _mm_mask_storeu_epi8(g.y + (m0 + r) * g.ldy + c0, lanes, _mm512_cvtepi32_epi8(v));
    }
  }
}

}  // namespace

void int8_gemm(const Int8Gemm& g) {
  const auto* w = static_cast<const int8_t*>(g.w);
  for (int64_t c0 = 0; c0 < g.n; c0 += 16) block(g, w + c0 / 16 * g.kp * 16, c0);
}

}  // namespace pyconv::kernels::vnni

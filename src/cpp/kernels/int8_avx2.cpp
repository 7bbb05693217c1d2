// int8 GEMM with AVX2 (compiled with -mavx2 -mfma, this file only). The
// weights are widened to int16 when packed and the inputs as they are used,
// and vpmaddwd adds pairs of int16 products into int32: exact, where
// vpmaddubsw's int16 sums of two u8 x s8 products can saturate (255 x 127 x 2
// > 32767) and change the result. A tile is 2 rows by 16 channels, or 3 or
// 4 rows where the block has at most 12 or 8 channels (the packed groups of
// 4 channels past 12 or 8 are zeros, and are skipped).
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8.h"
#include "micro/pcvm_ops.h"

namespace pyconv::kernels::avx2 {

#include "kernels/int8_requantize.h"

namespace {

// round(a * b / 2^31) for 8 lanes, b >= 0 (see int8_vnni.cpp).
inline __m256i doubling_high_mul(__m256i a, __m256i b) {
  const __m256i zero = _mm256_setzero_si256();
  auto half = [&](__m256i ab) {  // 4 int64 products -> the result in each high dword
    const __m256i nudge = _mm256_blendv_epi8(_mm256_set1_epi64x(1 << 30),
                                             _mm256_set1_epi64x(1 - (1 << 30)),
                                             _mm256_cmpgt_epi64(zero, ab));
    __m256i t = _mm256_add_epi64(ab, nudge);
    t = _mm256_add_epi64(t, _mm256_and_si256(_mm256_cmpgt_epi64(zero, t),
                                             _mm256_set1_epi64x((int64_t{1} << 31) - 1)));
    return _mm256_slli_epi64(t, 1);  // floor(t / 2^31) is now the high dword
  };
  const __m256i even = half(_mm256_mul_epi32(a, b));
  const __m256i odd = half(_mm256_mul_epi32(_mm256_srli_epi64(a, 32), _mm256_srli_epi64(b, 32)));
  return _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
}

inline __m256i rounding_divide(__m256i x, __m256i e) {
  const __m256i one = _mm256_set1_epi32(1);
  const __m256i mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, e), one);
  const __m256i remainder = _mm256_and_si256(x, mask);
  const __m256i threshold = _mm256_sub_epi32(_mm256_srai_epi32(mask, 1),
                                             _mm256_cmpgt_epi32(_mm256_setzero_si256(), x));
  return _mm256_sub_epi32(_mm256_srav_epi32(x, e), _mm256_cmpgt_epi32(remainder, threshold));
}

// acc[0..3] hold (channel, pair) sums of channels 4j..4j+3: the 16 channel sums.
inline void channel_sums(const __m256i acc[4], __m256i out[2]) {
  out[0] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[0], acc[1]), 0xD8);
  out[1] = _mm256_permute4x64_epi64(_mm256_hadd_epi32(acc[2], acc[3]), 0xD8);
}

// The first n <= 16 bytes of `from`, in fixed-size pieces (no memcpy call
// per output row).
inline void store_bytes(int8_t* to, const int8_t* from, int64_t n) {
  if (n == 16) return std::memcpy(to, from, 16), void();
  int64_t at = 0;
  for (int64_t piece : {8, 4, 2, 1})
    if (n & piece) {
      std::memcpy(to + at, from + at, static_cast<size_t>(piece));
      at += piece;
    }
}

// MR rows by the block's first 4 * JN channels.
template <int MR, int JN>
void block(const Int8Gemm& g, const int16_t* w, int64_t c0) {
  const int64_t cols = std::min<int64_t>(16, g.n - c0);
  const bool vector_store = fits_lanes(g, c0, cols);
  BlockParams params;
  block_params(g, c0, cols, params);
  for (int64_t m0 = 0; m0 < g.M; m0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, g.M - m0));
    __m256i acc[MR][4];
    for (auto& row : acc)
      for (__m256i& v : row) v = _mm256_setzero_si256();
    // The depth in segments (see Int8Gemm): one, seg == kp, but for a
    // convolution read straight from its padded input.
    for (int64_t k0 = 0, s = 0; k0 < g.kp; k0 += g.seg, ++s) {
      const int8_t* a = g.a + m0 * g.lda + s * g.seg_stride;
      for (int64_t k = 0; k < g.seg; k += 4) {
        __m256i x[MR];
        for (int r = 0; r < MR; ++r) {  // 4 inputs as int16, in every 64-bit lane
          int32_t four = 0;
          if (r < rows) std::memcpy(&four, a + r * g.lda + k, 4);
          x[r] = _mm256_broadcastq_epi64(_mm_cvtepi8_epi16(_mm_cvtsi32_si128(four)));
        }
        const int16_t* wk = w + (k0 + k) * 16;
        for (int j = 0; j < JN; ++j) {
          const __m256i wj = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(wk + 16 * j));
          for (int r = 0; r < MR; ++r) acc[r][j] = _mm256_add_epi32(acc[r][j], _mm256_madd_epi16(wj, x[r]));
        }
      }
    }
    for (int r = 0; r < rows; ++r) {
      __m256i sums[2];
      channel_sums(acc[r], sums);
      int8_t* y = g.y + (m0 + r) * g.ldy + c0;
      if (!vector_store) {
        alignas(32) int32_t tile[1][16];
        _mm256_store_si256(reinterpret_cast<__m256i*>(tile[0]), sums[0]);
        _mm256_store_si256(reinterpret_cast<__m256i*>(tile[0] + 8), sums[1]);
        store_block_scalar(g, tile, m0 + r, 1, c0, cols);
        continue;
      }
      constexpr int halves = JN <= 2 ? 1 : 2;  // 8 channels each
      if (halves == 1) sums[1] = _mm256_setzero_si256();
      for (int h = 0; h < halves; ++h) {
        auto p = [&](const int32_t* v) { return _mm256_load_si256(reinterpret_cast<const __m256i*>(v + 8 * h)); };
        __m256i v = rounding_divide(doubling_high_mul(_mm256_add_epi32(sums[h], p(params.bias)),
                                                      p(params.multiplier)), p(params.right));
        v = _mm256_add_epi32(v, _mm256_set1_epi32(g.out_zp));
        sums[h] = _mm256_min_epi32(_mm256_max_epi32(v, _mm256_set1_epi32(g.act_min)),
                                   _mm256_set1_epi32(g.act_max));
      }
      // 16 int32 in [-128, 127] to 16 bytes in order.
      const __m256i words = _mm256_permute4x64_epi64(_mm256_packs_epi32(sums[0], sums[1]), 0xD8);
      const __m256i bytes = _mm256_permute4x64_epi64(_mm256_packs_epi16(words, words), 0x08);
      alignas(16) int8_t out[32];
      _mm256_store_si256(reinterpret_cast<__m256i*>(out), bytes);
      store_bytes(y, out, cols);
    }
  }
}

}  // namespace

void int8_gemm(const Int8Gemm& product) {
  for_each_repeat(product, [](const Int8Gemm& g) {
    const auto* w = static_cast<const int16_t*>(g.w);
    for (int64_t c0 = 0; c0 < g.n; c0 += 16) {
      const int16_t* wb = w + c0 / 16 * g.kp * 16;
      switch ((std::min<int64_t>(16, g.n - c0) + 3) / 4) {  // groups of 4 channels in use
        case 1:  // one group of zeros multiplied: a fourth copy would cost 800 bytes
        case 2: block<4, 2>(g, wb, c0); break;
        case 3: block<3, 3>(g, wb, c0); break;
        default: block<2, 4>(g, wb, c0);
      }
    }
  });
}

#include "kernels/int8_pool_impl.h"

}  // namespace pyconv::kernels::avx2

// One-channel int8 convolutions with AVX-512 VNNI and VBMI (compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512vbmi, this file only;
// see Int8PlaneConv): vpermb builds each group's 16 pixels x 4 taps from one
// 64-byte load of the input, vpdpbusd multiplies them by the group's 4
// weights of one channel, broadcast. LeNet-5's first layer (5x5 taps, 6
// channels) takes 7 of them per channel for 16 pixels, where the GEMM takes
// 10 for 2 pixels and a shuffle for each.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see int8_vnni.cpp
#pragma GCC diagnostic ignored "-Wuninitialized"  // vpermb's intrinsic, the same way
#endif
#include <immintrin.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8.h"
#include "micro/pcvm_ops.h"

namespace pyconv::kernels::vbmi {

#include "kernels/int8_requantize.h"
#include "kernels/int8_requantize_avx512.h"

namespace {

constexpr int kMaxChannels = 8;

// The store mask of the first n bytes of a vector.
inline __mmask64 first_bytes(int64_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; }

// Requantizes blocks (1 or 2) x 16 pixels of sums[block][channel] and stores
// the pixels [x0, min(x0 + 16 * blocks, out_w)) of output row r, channel by
// channel within each pixel. One copy for every channel count.
[[gnu::noipa]] void store_pixels(const Int8PlaneConv& c, const Block* channel, const int32_t* sums,
                                 int blocks, int64_t r, int64_t x0) {
  const Requantize requantize(c.out_zp, c.act_min, c.act_max);
  const __m512i lo = _mm512_loadu_si512(c.interleave), hi = _mm512_loadu_si512(c.interleave + 64);
  for (int b = 0; b < blocks; ++b) {
    // Channels 0-3 in the 128-bit lanes of z0, 4-7 in z1; the rest zero.
    // (Two variables, not an array indexed by ch / 4: that one lives in memory.)
    __m512i z0 = _mm512_setzero_si512(), z1 = z0;
#pragma GCC unroll 1
    for (int ch = 0; ch < c.channels; ++ch) {
      const __m128i bytes = requantize(_mm512_load_si512(sums + (b * kMaxChannels + ch) * 16), channel[ch]);
      const auto lane = static_cast<__mmask16>(0xF << (ch % 4 * 4));
      if (ch < 4)
        z0 = _mm512_mask_broadcast_i32x4(z0, lane, bytes);
      else
        z1 = _mm512_mask_broadcast_i32x4(z1, lane, bytes);
    }
    const int64_t from = x0 + 16 * b, bytes = std::min<int64_t>(16, c.out_w - from) * c.channels;
    int8_t* y = c.y + (r * c.out_w + from) * c.channels;
    _mm512_mask_storeu_epi8(y, first_bytes(bytes), _mm512_permutex2var_epi8(z0, lo, z1));
    if (bytes > 64) _mm512_mask_storeu_epi8(y + 64, first_bytes(bytes - 64), _mm512_permutex2var_epi8(z0, hi, z1));
  }
}

// sums[v][ch]: channel ch's bias and products for the 16 pixels whose taps
// start at first (v = 0) and at first + second (v = 1). C is even (an odd
// count's last channel sums again with zero weights, unstored): four copies
// of this loop instead of eight.
template <int C>
[[gnu::noinline]] void two_vectors(const Int8PlaneConv& c, const Block* channel, const uint8_t* first,
                                   int64_t second, int32_t (*sums)[kMaxChannels][16]) {
  __m512i acc[2][C];
#pragma GCC unroll 8
  for (int ch = 0; ch < C; ++ch) acc[0][ch] = acc[1][ch] = channel[ch].bias;
  for (int g = 0; g < c.groups; ++g) {
    const __m512i index = _mm512_loadu_si512(c.index + 64 * g);
    const uint8_t* window = first + c.start[g];
    const __m512i in0 = _mm512_permutexvar_epi8(index, _mm512_loadu_si512(window));
    const __m512i in1 = _mm512_permutexvar_epi8(index, _mm512_loadu_si512(window + second));
#pragma GCC unroll 8
    for (int ch = 0; ch < C; ++ch) {
      const __m512i w = _mm512_set1_epi32(c.w[g * C + ch]);
      acc[0][ch] = _mm512_dpbusd_epi32(acc[0][ch], in0, w);
      acc[1][ch] = _mm512_dpbusd_epi32(acc[1][ch], in1, w);
    }
  }
#pragma GCC unroll 8
  for (int ch = 0; ch < C; ++ch) {
    _mm512_store_si512(sums[0][ch], acc[0][ch]);
    _mm512_store_si512(sums[1][ch], acc[1][ch]);
  }
}

// Output rows, 32 pixels (two vectors) at a time.
template <int C>
void plane_rows(const Int8PlaneConv& c, const Block* channel) {
  for (int64_t r = 0; r < c.rows; ++r)
    for (int64_t x0 = 0; x0 < c.out_w; x0 += 32) {
      // A lone last vector reads the first one's window again, not past the input.
      const int64_t second = x0 + 16 < c.out_w ? 16 * c.sw : 0;
      alignas(64) int32_t sums[2][kMaxChannels][16];
      two_vectors<C>(c, channel, c.x + r * c.row_step + x0 * c.sw, second, sums);
      store_pixels(c, channel, sums[0][0], second ? 2 : 1, r, x0);
    }
}

// The 2x2 averages of rows[2][channel] (two output rows of 16 pixels,
// requantized), as pcvm::qavgpool_ref takes them, stored as pooled pixels
// [p0, min(p0 + 8, pooled_w)) of pooled row r. Two channels at a time: 16
// pixel pairs of each row widened to int16, summed over both rows and then
// pairwise into 8 sums a channel; the means of pair i in 128-bit lane i of z.
[[gnu::noipa]] void store_pooled(const Int8PlaneConv& c, const Block* channel, const int32_t* sums,
                                 int64_t r, int64_t p0) {
  const Requantize requantize(c.out_zp, c.act_min, c.act_max);
  auto at = [&](int row, int ch) { return _mm512_load_si512(sums + (row * kMaxChannels + ch) * 16); };
  __m512i z = _mm512_setzero_si512();
#pragma GCC unroll 1
  for (int pair = 0; 2 * pair < c.channels; ++pair) {
    __m256i both[2];
    for (int i = 0; i < 2; ++i) {
      const int ch = 2 * pair + i;  // past the last: the unused channel, summed all the same
      both[i] = _mm256_add_epi16(_mm256_cvtepi8_epi16(requantize(at(0, ch), channel[ch])),
                                 _mm256_cvtepi8_epi16(requantize(at(1, ch), channel[ch])));
    }
    const __m512i sum = _mm512_madd_epi16(_mm512_inserti64x4(_mm512_castsi256_si512(both[0]), both[1], 1),
                                          _mm512_set1_epi16(1));
    z = _mm512_mask_broadcast_i32x4(z, static_cast<__mmask16>(0xF << (pair * 4)),
                                    _mm512_cvtepi32_epi8(mean_of_4(sum)));
  }
  const int64_t bytes = std::min<int64_t>(8, c.pooled_w - p0) * c.channels;
  _mm512_mask_storeu_epi8(c.y + (r * c.pooled_w + p0) * c.channels, first_bytes(bytes),
                          _mm512_permutexvar_epi8(_mm512_loadu_si512(c.interleave + 128), z));
}

// Pooled rows: output rows 2r and 2r + 1, 16 pixels (8 pooled) at a time.
template <int C>
void pooled_rows(const Int8PlaneConv& c, const Block* channel) {
  for (int64_t r = 0; r < c.rows; ++r)
    for (int64_t x0 = 0; x0 < 2 * c.pooled_w; x0 += 16) {
      alignas(64) int32_t sums[2][kMaxChannels][16];
      two_vectors<C>(c, channel, c.x + 2 * r * c.row_step + x0 * c.sw, c.row_step, sums);
      store_pooled(c, channel, sums[0][0], r, x0 / 2);
    }
}

template <int C>
void any_rows(const Int8PlaneConv& c, const Block* channel) {
  if (c.pooled_w)
    pooled_rows<C>(c, channel);
  else
    plane_rows<C>(c, channel);
}

}  // namespace

// pcvm::quantize_value for n values, 16 at a time (as int8_pool_impl.h's
// int8_quantize: roundf as trunc + sign where the fraction is a half or more).
void int8_quantize(const float* x, int32_t n, float scale, int32_t zp, int8_t* y) {
  const __m512 s = _mm512_set1_ps(scale), z = _mm512_set1_ps(static_cast<float>(zp));
  const __m512 lo = _mm512_set1_ps(-128.f), hi = _mm512_set1_ps(127.f), one = _mm512_set1_ps(1.f);
  const __m512i sign = _mm512_set1_epi32(INT32_MIN);
  for (int32_t i = 0; i < n; i += 16) {
    const auto lanes = static_cast<__mmask16>(n - i >= 16 ? 0xFFFF : (1u << (n - i)) - 1);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(lanes, x + i), s);
    const __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512 away = _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(one),
                                                            _mm512_and_si512(_mm512_castps_si512(v), sign)));
    __m512 r = _mm512_add_ps(_mm512_mask_add_ps(t, up, t, away), z);
    r = _mm512_min_ps(_mm512_max_ps(r, lo), hi);  // max takes lo for NaN
    _mm_mask_storeu_epi8(y + i, lanes, _mm512_cvtepi32_epi8(_mm512_cvttps_epi32(r)));
  }
}

void int8_plane_conv(const Int8PlaneConv& c) {
  Block channel[kMaxChannels];
  for (int ch = 0; ch < c.channels; ++ch)
    channel[ch] = channel_block(c.bias[ch], c.multiplier[ch], c.shift[ch], c.out_zp);
  if (c.channels % 2) channel[c.channels] = channel_block(0, 0, 0, 0);  // summed, never stored
  switch ((c.channels + 1) / 2) {
    case 1: return any_rows<2>(c, channel);
    case 2: return any_rows<4>(c, channel);
    case 3: return any_rows<6>(c, channel);
    default: return any_rows<8>(c, channel);
  }
}

}  // namespace pyconv::kernels::vbmi

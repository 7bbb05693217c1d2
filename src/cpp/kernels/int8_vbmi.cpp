// One-channel int8 convolutions with AVX-512 VNNI and VBMI (compiled with
// -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx512vbmi, this file only;
// see Int8PlaneConv): vpermb builds each group's 16 pixels x 4 taps from one
// 64-byte load of the input, vpdpbusd multiplies them by the group's 4
// weights of one channel, broadcast. LeNet-5's first layer (5x5 taps, 6
// channels) takes 7 of them per channel for 16 pixels, where the GEMM takes
// 10 for 2 pixels and a shuffle for each.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"  // see int8_vnni.cpp
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
    auto mask = [](int64_t n) { return n >= 64 ? ~__mmask64{0} : (__mmask64{1} << n) - 1; };
    _mm512_mask_storeu_epi8(y, mask(bytes), _mm512_permutex2var_epi8(z0, lo, z1));
    if (bytes > 64) _mm512_mask_storeu_epi8(y + 64, mask(bytes - 64), _mm512_permutex2var_epi8(z0, hi, z1));
  }
}

// Output rows of C channels, 32 pixels (two vectors) at a time. C is even
// (an odd count's last channel sums again with zero weights, unstored):
// four copies of this loop instead of eight.
template <int C>
void plane_rows(const Int8PlaneConv& c, const Block* channel) {
  for (int64_t r = 0; r < c.rows; ++r) {
    const uint8_t* row = c.x + r * c.row_step;
    for (int64_t x0 = 0; x0 < c.out_w; x0 += 32) {
      // A lone last vector reads the first one's window again, not past the input.
      const int64_t second = x0 + 16 < c.out_w ? 16 * c.sw : 0;
      __m512i acc[2][C];
#pragma GCC unroll 8
      for (int ch = 0; ch < C; ++ch) acc[0][ch] = acc[1][ch] = channel[ch].bias;
      for (int g = 0; g < c.groups; ++g) {
        const __m512i index = _mm512_loadu_si512(c.index + 64 * g);
        const uint8_t* window = row + x0 * c.sw + c.start[g];
        const __m512i in0 = _mm512_permutexvar_epi8(index, _mm512_loadu_si512(window));
        const __m512i in1 = _mm512_permutexvar_epi8(index, _mm512_loadu_si512(window + second));
#pragma GCC unroll 8
        for (int ch = 0; ch < C; ++ch) {
          const __m512i w = _mm512_set1_epi32(c.w[g * C + ch]);
          acc[0][ch] = _mm512_dpbusd_epi32(acc[0][ch], in0, w);
          acc[1][ch] = _mm512_dpbusd_epi32(acc[1][ch], in1, w);
        }
      }
      alignas(64) int32_t sums[2][kMaxChannels][16];
#pragma GCC unroll 8
      for (int ch = 0; ch < C; ++ch) {
        _mm512_store_si512(sums[0][ch], acc[0][ch]);
        _mm512_store_si512(sums[1][ch], acc[1][ch]);
      }
      store_pixels(c, channel, sums[0][0], second ? 2 : 1, r, x0);
    }
  }
}

}  // namespace

void int8_plane_conv(const Int8PlaneConv& c) {
  Block channel[kMaxChannels];
  for (int ch = 0; ch < c.channels; ++ch)
    channel[ch] = channel_block(c.bias[ch], c.multiplier[ch], c.shift[ch]);
  if (c.channels % 2) channel[c.channels].bias = _mm512_setzero_si512();  // summed, never stored
  switch ((c.channels + 1) / 2) {
    case 1: return plane_rows<2>(c, channel);
    case 2: return plane_rows<4>(c, channel);
    case 3: return plane_rows<6>(c, channel);
    default: return plane_rows<8>(c, channel);
  }
}

}  // namespace pyconv::kernels::vbmi

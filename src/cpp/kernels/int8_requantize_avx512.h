// The reference requantization (micro/pcvm_ops.h) for 16 int32 sums at once
// with AVX-512, for the int8 kernels compiled with it (int8_vnni.cpp,
// int8_vbmi.cpp). Included inside each file's namespace, after
// kernels/int8_requantize.h; the including file provides <immintrin.h>,
// <algorithm> and kernels/int8.h.

namespace {

// One vector's requantization constants, lane by lane (16 channels of a
// block, or one channel in every lane), and whether its channels can use
// them (they fit 32-bit lanes: fits_lanes).
struct Block {
  int64_t c0, cols;
  __mmask16 lanes;
  bool vector;
  __m512i bias, mult, mult_odd, right, mask, half;
  // For outputs clamped at their zero point or above (see Requantize), per
  // 64-bit lane, of the even channels and of the odd ones: the rounding
  // term 2^30 + 2^(30 + right) (2^30 where right = 0), and 31 + right. Where
  // every right <= 23, the output zero point times 2^(31 + right) is in the
  // rounding terms too (zp_in_round): the sum still fits 63 bits.
  __m512i round_even, round_odd, down_even, down_odd;
  bool zp_in_round;
};

// The constants that follow from b.mult and b.right, for output zero point zp.
inline void derive(Block& b, int32_t zp) {
  b.mult_odd = _mm512_srli_epi64(b.mult, 32);
  const __m512i one = _mm512_set1_epi32(1);
  b.mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, b.right), one);
  b.half = _mm512_srai_epi32(b.mask, 1);
  auto set = [](__m512i right, __m512i& round, __m512i& down) {
    const __m512i base = _mm512_set1_epi64(int64_t{1} << 30);
    round = _mm512_mask_add_epi64(base, _mm512_cmpgt_epi64_mask(right, _mm512_setzero_si512()), base,
                                  _mm512_sllv_epi64(base, right));
    down = _mm512_add_epi64(right, _mm512_set1_epi64(31));
  };
  set(_mm512_and_si512(b.right, _mm512_set1_epi64(0xFFFFFFFF)), b.round_even, b.down_even);
  set(_mm512_srli_epi64(b.right, 32), b.round_odd, b.down_odd);
  b.zp_in_round = _mm512_cmpgt_epi32_mask(b.right, _mm512_set1_epi32(23)) == 0;
  if (b.zp_in_round) {
    const __m512i z = _mm512_set1_epi64(zp);
    b.round_even = _mm512_add_epi64(b.round_even, _mm512_sllv_epi64(z, b.down_even));
    b.round_odd = _mm512_add_epi64(b.round_odd, _mm512_sllv_epi64(z, b.down_odd));
  }
}

// Channels [c0, c0 + 16) of g's, one a lane.
inline Block block_at(const Int8Gemm& g, int64_t c0) {
  Block b;
  b.c0 = c0;
  b.cols = std::min<int64_t>(16, g.n - c0);
  b.lanes = static_cast<__mmask16>((1u << b.cols) - 1);
  b.vector = fits_lanes(g, c0, b.cols);
  b.bias = _mm512_maskz_loadu_epi32(b.lanes, g.bias + c0);
  b.mult = _mm512_maskz_loadu_epi32(b.lanes, g.multiplier + c0);
  b.right = _mm512_sub_epi32(_mm512_setzero_si512(), _mm512_maskz_loadu_epi32(b.lanes, g.shift + c0));
  derive(b, g.out_zp);
  return b;
}

// One channel's constants in every lane (pcvm::fits_lanes), for output zero point zp.
inline Block channel_block(int32_t bias, int32_t multiplier, int32_t shift, int32_t zp) {
  Block b;
  b.c0 = 0, b.cols = 16, b.lanes = 0xFFFF, b.vector = true;
  b.bias = _mm512_set1_epi32(bias);
  b.mult = _mm512_set1_epi32(multiplier);
  b.right = _mm512_set1_epi32(-shift);
  derive(b, zp);
  return b;
}

// round(a * b / 2^31) for 16 lanes, b >= 0: TFLite's nudge (2^30, or
// 1 - 2^30 below zero) and truncating division come to (a * b + 2^30) >> 31
// (floor) for either sign, and the result fits 32 bits (its one saturating
// case needs b = INT32_MIN).
inline __m512i doubling_high_mul(__m512i a, const Block& b) {
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30);
  // Even lanes: the result in each product's low dword; odd: in its high dword.
  const __m512i even = _mm512_srli_epi64(_mm512_add_epi64(_mm512_mul_epi32(a, b.mult), nudge), 31);
  const __m512i odd = _mm512_slli_epi64(
      _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(a, 32), b.mult_odd), nudge), 1);
  return _mm512_mask_blend_epi32(0xAAAA, even, odd);
}

// x / 2^right rounded half away from zero: (x >> right) + 1 where the bits
// shifted out exceed half (half + 1 below zero).
inline __m512i rounding_divide(__m512i x, const Block& b) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i threshold = _mm512_mask_add_epi32(b.half, _mm512_cmplt_epi32_mask(x, _mm512_setzero_si512()), b.half, one);
  const __m512i q = _mm512_srav_epi32(x, b.right);
  return _mm512_mask_add_epi32(q, _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, b.mask), threshold), q, one);
}

// The output bytes of 16 sums (the bias in them already).
//
// Where the outputs are clamped at their zero point or above (a fused ReLU),
// one rounding in 64 bits does both steps: with p = acc * mult and e = right,
// floor((p + 2^30 + 2^(30 + e)) / 2^(31 + e)) is floor((p + 2^30) / 2^31)
// divided by 2^e with halves rounded up. That is the reference's result
// wherever the first step gives 0 or more; below 0 (halves away from zero)
// both are 0 or less, which the clamp takes to act_min either way. About 7
// cycles a vector where the two steps take 11 (AMD Zen 4). The clamp's top
// is the narrowing's saturation where it is 127.
struct Requantize {
  __m512i out_zp, act_min, act_max, low_dwords;
  bool relu, below_127;
  Requantize(int32_t zp, int32_t lo, int32_t hi)
      : out_zp(_mm512_set1_epi32(zp)), act_min(_mm512_set1_epi32(lo)), act_max(_mm512_set1_epi32(hi)),
        low_dwords(_mm512_setr_epi32(0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30)),
        relu(lo >= zp), below_127(hi < 127) {}
  explicit Requantize(const Int8Gemm& g) : Requantize(g.out_zp, g.act_min, g.act_max) {}
  __m128i operator()(__m512i acc, const Block& b) const {
    __m512i v = _mm512_max_epi32(unclamped(acc, b), act_min);
    if (below_127) v = _mm512_min_epi32(v, act_max);
    // Narrowed in a register, then stored: GCC otherwise makes the two one
    // vpmovsdb to memory, many times slower on AMD's cores.
    __m128i bytes = _mm512_cvtsepi32_epi8(v);
    asm("" : "+x"(bytes));
    return bytes;
  }
  // The outputs as int32 (what operator() narrows).
  __m512i values(__m512i acc, const Block& b) const {
    return _mm512_min_epi32(_mm512_max_epi32(unclamped(acc, b), act_min), act_max);
  }

 private:
  __m512i unclamped(__m512i acc, const Block& b) const {
    __m512i v;
    if (relu) {
      const __m512i even = _mm512_srav_epi64(_mm512_add_epi64(_mm512_mul_epi32(acc, b.mult), b.round_even), b.down_even);
      const __m512i odd = _mm512_srav_epi64(
          _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), b.mult_odd), b.round_odd), b.down_odd);
      v = _mm512_permutex2var_epi32(even, low_dwords, odd);
      if (!b.zp_in_round) v = _mm512_add_epi32(v, out_zp);
    } else {
      v = _mm512_add_epi32(rounding_divide(doubling_high_mul(acc, b), b), out_zp);
    }
    return v;
  }
};

// The means of 16 sums of 4 values each, as pcvm::rounded_mean takes them:
// sign(sum) * ((|sum| + 2) / 4).
inline __m512i mean_of_4(__m512i sum) {
  const __m512i mean = _mm512_srli_epi32(_mm512_add_epi32(_mm512_abs_epi32(sum), _mm512_set1_epi32(2)), 2);
  return _mm512_mask_sub_epi32(mean, _mm512_cmplt_epi32_mask(sum, _mm512_setzero_si512()),
                               _mm512_setzero_si512(), mean);
}

}  // namespace

// int8 GEMM for AArch64, included inside the "neon" namespace (baseline
// Advanced SIMD) and the "dotprod" one (compiled with +dotprod): the only
// difference is how 4 products of a channel are summed. A tile is 4 rows by
// 16 channels (4 vectors). The including file provides <arm_neon.h>,
// <algorithm>, <cstring>, micro/pcvm_ops.h and kernels/int8.h.

namespace {

constexpr int MR = 4;

// acc[i] += sum over t < 4 of w[4i + t] * x[4i + t]: 4 channels' 4 depth steps.
inline int32x4_t dot4(int32x4_t acc, int8x16_t w, int8x16_t x) {
#if defined(__ARM_FEATURE_DOTPROD)
  return vdotq_s32(acc, w, x);
#else
  // Products fit int16 (|w| <= 127), and so do sums of two (<= 32512).
  const int16x8_t lo = vmull_s8(vget_low_s8(w), vget_low_s8(x));
  const int16x8_t hi = vmull_high_s8(w, x);
  return vpadalq_s16(acc, vpaddq_s16(lo, hi));
#endif
}

// round(a * b / 2^31), b >= 0, as the reference (vqrdmulh rounds ties differently).
inline int32x4_t doubling_high_mul(int32x4_t a, int32x4_t b) {
  auto half = [](int64x2_t ab) {
    const uint64x2_t negative = vcltzq_s64(ab);
    int64x2_t t = vaddq_s64(ab, vbslq_s64(negative, vdupq_n_s64(1 - (1 << 30)), vdupq_n_s64(1 << 30)));
    t = vaddq_s64(t, vandq_s64(vreinterpretq_s64_u64(vcltzq_s64(t)), vdupq_n_s64((int64_t{1} << 31) - 1)));
    return vmovn_s64(vshrq_n_s64(t, 31));
  };
  return vcombine_s32(half(vmull_s32(vget_low_s32(a), vget_low_s32(b))), half(vmull_high_s32(a, b)));
}

inline int32x4_t rounding_divide(int32x4_t x, int32x4_t e) {
  const int32x4_t one = vdupq_n_s32(1);
  const int32x4_t mask = vsubq_s32(vshlq_s32(one, e), one);
  const int32x4_t remainder = vandq_s32(x, mask);
  const int32x4_t threshold = vsubq_s32(vshrq_n_s32(mask, 1), vreinterpretq_s32_u32(vcltzq_s32(x)));
  const int32x4_t shifted = vshlq_s32(x, vnegq_s32(e));  // a negative count shifts right
  return vsubq_s32(shifted, vreinterpretq_s32_u32(vcgtq_s32(remainder, threshold)));
}

void block(const Int8Gemm& g, const int8_t* w, int64_t c0) {
  const int64_t cols = std::min<int64_t>(16, g.n - c0);
  const bool vector_store = fits_lanes(g, c0, cols);
  BlockParams params;
  block_params(g, c0, cols, params);
  for (int64_t m0 = 0; m0 < g.M; m0 += MR) {
    const int rows = static_cast<int>(std::min<int64_t>(MR, g.M - m0));
    int32x4_t acc[MR][4];
    for (auto& row : acc)
      for (int32x4_t& v : row) v = vdupq_n_s32(0);
    const int8_t* a = g.a + m0 * g.lda;
    for (int64_t k = 0; k < g.kp; k += 4) {
      const int8_t* wk = w + k * 16;
      const int8x16_t w0 = vld1q_s8(wk), w1 = vld1q_s8(wk + 16), w2 = vld1q_s8(wk + 32),
                      w3 = vld1q_s8(wk + 48);
      for (int r = 0; r < MR; ++r) {
        if (r >= rows) break;
        int32_t four;
        std::memcpy(&four, a + r * g.lda + k, 4);
        const int8x16_t x = vreinterpretq_s8_s32(vdupq_n_s32(four));
        acc[r][0] = dot4(acc[r][0], w0, x);
        acc[r][1] = dot4(acc[r][1], w1, x);
        acc[r][2] = dot4(acc[r][2], w2, x);
        acc[r][3] = dot4(acc[r][3], w3, x);
      }
    }
    for (int r = 0; r < rows; ++r) {
      int8_t* y = g.y + (m0 + r) * g.ldy + c0;
      if (!vector_store) {
        int32_t tile[1][16];
        for (int j = 0; j < 4; ++j) vst1q_s32(tile[0] + 4 * j, acc[r][j]);
        store_block_scalar(g, tile, m0 + r, 1, c0, cols);
        continue;
      }
      int16x8_t halves[2];
      for (int h = 0; h < 2; ++h) {
        int32x4_t v[2];
        for (int q = 0; q < 2; ++q) {
          const int j = 2 * h + q;
          int32x4_t s = vaddq_s32(acc[r][j], vld1q_s32(params.bias + 4 * j));
          s = rounding_divide(doubling_high_mul(s, vld1q_s32(params.multiplier + 4 * j)),
                              vld1q_s32(params.right + 4 * j));
          s = vaddq_s32(s, vdupq_n_s32(g.out_zp));
          v[q] = vminq_s32(vmaxq_s32(s, vdupq_n_s32(g.act_min)), vdupq_n_s32(g.act_max));
        }
        halves[h] = vcombine_s16(vmovn_s32(v[0]), vmovn_s32(v[1]));
      }
      int8_t out[16];
      vst1q_s8(out, vcombine_s8(vmovn_s16(halves[0]), vmovn_s16(halves[1])));
      std::memcpy(y, out, static_cast<size_t>(cols));
    }
  }
}

}  // namespace

void int8_gemm(const Int8Gemm& product) {
  for_each_repeat(product, [](const Int8Gemm& g) {
    const auto* w = static_cast<const int8_t*>(g.w);
    for (int64_t c0 = 0; c0 < g.n; c0 += 16) block(g, w + c0 / 16 * g.kp * 16, c0);
  });
}

// The micro runtime's arithmetic and reference kernels, one sample each (see
// pcvm.h for the conventions). Header-only so that faster kernels (the
// library's, per ISA) use the same requantization and can be tested against
// these bit for bit. Freestanding: <stdint.h> and <math.h> only.
#ifndef PYCONV_MICRO_PCVM_OPS_H
#define PYCONV_MICRO_PCVM_OPS_H

#include <math.h>
#include <stdint.h>

#include "micro/pcvm.h"

namespace pcvm {

// ----- requantization, exactly as TFLite's reference kernels -------------------

// round(a * b / 2^31), saturating the one overflowing case.
inline int32_t rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  const int64_t ab = static_cast<int64_t>(a) * b;
  const int64_t nudge = ab >= 0 ? (int64_t{1} << 30) : 1 - (int64_t{1} << 30);
  return static_cast<int32_t>((ab + nudge) / (int64_t{1} << 31));
}

// x / 2^exponent rounded to nearest, ties away from zero.
inline int32_t rounding_divide_by_pot(int32_t x, int32_t exponent) {
  const int32_t mask = static_cast<int32_t>((int64_t{1} << exponent) - 1);
  const int32_t remainder = x & mask;
  const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

// acc * multiplier * 2^shift / 2^31: the real factor in_scale * w_scale /
// out_scale as a Q31 multiplier in [2^30, 2^31) and a power of two. A left
// shift saturates instead of overflowing.
inline int32_t requantize(int32_t acc, int32_t multiplier, int32_t shift) {
  if (shift > 0) {
    const int64_t v = static_cast<int64_t>(acc) * (int64_t{1} << shift);
    acc = v > INT32_MAX ? INT32_MAX : v < INT32_MIN ? INT32_MIN : static_cast<int32_t>(v);
  }
  return rounding_divide_by_pot(rounding_doubling_high_mul(acc, multiplier), shift > 0 ? 0 : -shift);
}

// Whether a channel's requantized sums stay 256 or more inside int32, so
// that vector kernels may add the zero point in 32-bit lanes: no left shift,
// and no multiplier within 256 of 2^31 without a right shift (|result| <=
// |acc| * multiplier / 2^31 rounded, or 2^30 after a right shift).
inline bool fits_lanes(int32_t multiplier, int32_t shift) {
  return shift < 0 || (shift == 0 && multiplier <= INT32_MAX - 255);
}

inline int8_t to_int8(int64_t v, int32_t lo, int32_t hi) {
  return static_cast<int8_t>(v < lo ? lo : v > hi ? hi : v);
}

// The output of one int8 convolution or dense output channel. The zero
// point is added in 64 bits: a result near int32's ends (a saturated left
// shift) clamps as the true sum does.
inline int8_t requantize_output(const Op& op, int32_t acc, int32_t f) {
  return to_int8(int64_t{op.out_zp} + requantize(acc, op.multiplier[f], op.shift[f]), op.act_min, op.act_max);
}

// round(x / scale) + zero_point, ties away from zero, clamped to int8 (NaN: -128).
inline int8_t quantize_value(float x, float scale, int32_t zp) {
  const float r = roundf(x / scale) + static_cast<float>(zp);
  if (!(r >= -128.f)) return -128;
  return static_cast<int8_t>(r > 127.f ? 127.f : r);
}

inline void quantize_ref(const float* x, int32_t n, float scale, int32_t zp, int8_t* y) {
  for (int32_t i = 0; i < n; ++i) y[i] = quantize_value(x[i], scale, zp);
}

// ----- windows ------------------------------------------------------------------

// The input row (or column) of output o's tap k; outside [0, size) is padding.
inline int32_t tap_at(int32_t o, int32_t stride, int32_t pad, int32_t k, int32_t dilation) {
  return o * stride - pad + k * dilation;
}

// ----- int8 reference kernels ---------------------------------------------------

// For every output (pixel, channel f): `first(f)` plus the sum over the
// taps in the input and the group's channels of (x - zero_point) * w, handed
// to store(output index, f, sum). Weights are (kh, kw, C / groups, F).
template <class T, class Acc, class First, class Store>
void conv_sums(const Op& op, const T* x, const T* weights, Acc zero_point, First first, Store store) {
  const int32_t cg = op.in_c / op.groups, fg = op.out_c / op.groups;
  for (int32_t oh = 0; oh < op.out_h; ++oh)
    for (int32_t ow = 0; ow < op.out_w; ++ow)
      for (int32_t f = 0; f < op.out_c; ++f) {
        const int32_t c0 = f / fg * cg;
        Acc acc = first(f);
        for (int32_t i = 0; i < op.kh; ++i) {
          const int32_t ih = tap_at(oh, op.sh, op.pad_top, i, op.dh);
          if (ih < 0 || ih >= op.in_h) continue;
          for (int32_t j = 0; j < op.kw; ++j) {
            const int32_t iw = tap_at(ow, op.sw, op.pad_left, j, op.dw);
            if (iw < 0 || iw >= op.in_w) continue;
            const T* xp = x + (ih * op.in_w + iw) * op.in_c + c0;
            const T* wp = weights + (i * op.kw + j) * cg * op.out_c + f;
            for (int32_t c = 0; c < cg; ++c) acc += (xp[c] - zero_point) * wp[c * op.out_c];
          }
        }
        store((oh * op.out_w + ow) * op.out_c + f, f, acc);
      }
}

// acc[f] = bias[f] + sum over taps and the group's channels of (x - in_zp) * w.
inline void qconv_ref(const Op& op, const int8_t* x, int8_t* y) {
  conv_sums(op, x, op.weight_i8, op.in_zp, [&](int32_t f) { return op.bias_i32 ? op.bias_i32[f] : 0; },
            [&](int32_t at, int32_t f, int32_t acc) { y[at] = requantize_output(op, acc, f); });
}

// y[u] from acc = bias[u] + sum over i of (x[i] - in_zp) * w[i][u].
inline void qdense_ref(const Op& op, const int8_t* x, int8_t* y) {
  const int32_t n = op.in_h * op.in_w * op.in_c, units = op.out_c;
  for (int32_t u = 0; u < units; ++u) {
    int32_t acc = op.bias_i32 ? op.bias_i32[u] : 0;
    for (int32_t i = 0; i < n; ++i) acc += (x[i] - op.in_zp) * op.weight_i8[i * units + u];
    y[u] = requantize_output(op, acc, u);
  }
}

// Pooling over the window's pixels inside the input (padding is left out,
// as Keras does), per channel. Max and average keep the input's scale.
template <class Visit>
void for_each_window(const Op& op, Visit visit) {
  for (int32_t oh = 0; oh < op.out_h; ++oh)
    for (int32_t ow = 0; ow < op.out_w; ++ow) {
      int32_t h0 = oh * op.sh - op.pad_top, w0 = ow * op.sw - op.pad_left;
      int32_t h1 = h0 + op.kh, w1 = w0 + op.kw;
      h0 = h0 < 0 ? 0 : h0, w0 = w0 < 0 ? 0 : w0;
      h1 = h1 > op.in_h ? op.in_h : h1, w1 = w1 > op.in_w ? op.in_w : w1;
      visit((oh * op.out_w + ow) * op.out_c, h0, h1, w0, w1);
    }
}

// Channels are innermost, in chunks of 16, so each window pixel is one run
// of contiguous values, and the chunk's start values are a few stores
// (for 64, GCC calls rep stos, slow at this size).
inline void qmaxpool_ref(const Op& op, const int8_t* x, int8_t* y) {
  for_each_window(op, [&](int32_t out, int32_t h0, int32_t h1, int32_t w0, int32_t w1) {
    for (int32_t c0 = 0; c0 < op.out_c; c0 += 16) {
      const int32_t n = op.out_c - c0 < 16 ? op.out_c - c0 : 16;
      int8_t m[16];
      for (int32_t c = 0; c < 16; ++c) m[c] = -128;
      for (int32_t h = h0; h < h1; ++h)
        for (int32_t w = w0; w < w1; ++w) {
          const int8_t* v = x + (h * op.in_w + w) * op.in_c + c0;
          for (int32_t c = 0; c < n; ++c) m[c] = v[c] > m[c] ? v[c] : m[c];
        }
      for (int32_t c = 0; c < n; ++c) y[out + c0 + c] = m[c];
    }
  });
}

// Division by a window's element count n, prepared once per window: a
// multiply-high where it is exact (t * n < 2^32: the error of ceil(2^32 / n)
// then stays below 1 / n), a division otherwise.
struct Divider {
  uint32_t n;
  uint64_t magic;  // ceil(2^32 / n)
};

inline Divider divider(int32_t n) {
  return {static_cast<uint32_t>(n), ((uint64_t{1} << 32) + static_cast<uint32_t>(n) - 1) / static_cast<uint32_t>(n)};
}

inline uint32_t divide(uint32_t t, const Divider& d) {
  if (uint64_t{t} * d.n < (uint64_t{1} << 32)) return static_cast<uint32_t>((t * d.magic) >> 32);
  return t / d.n;
}

// The mean of n int8 values summing to sum, rounded half away from zero.
inline int8_t rounded_mean(int32_t sum, const Divider& d) {
  const uint32_t half = d.n / 2;
  const int32_t mean = sum >= 0 ? static_cast<int32_t>(divide(static_cast<uint32_t>(sum) + half, d))
                                : -static_cast<int32_t>(divide(static_cast<uint32_t>(-sum) + half, d));
  return to_int8(mean, -128, 127);
}

// One window of average pooling: all its channels to y + out. d is the
// divider of the last window, prepared again only where the count changes
// (at the edges): it costs a 64-bit division.
inline void qavgpool_window(const Op& op, const int8_t* x, int8_t* y, int32_t out, int32_t h0, int32_t h1,
                            int32_t w0, int32_t w1, Divider& d) {
  const int32_t count = (h1 - h0) * (w1 - w0);
  if (count > 0 && static_cast<uint32_t>(count) != d.n) d = divider(count);
  for (int32_t c0 = 0; c0 < op.out_c; c0 += 16) {
    const int32_t n = op.out_c - c0 < 16 ? op.out_c - c0 : 16;
    int32_t sum[16];
    for (int32_t c = 0; c < 16; ++c) sum[c] = 0;
    for (int32_t h = h0; h < h1; ++h)
      for (int32_t w = w0; w < w1; ++w) {
        const int8_t* v = x + (h * op.in_w + w) * op.in_c + c0;
        for (int32_t c = 0; c < n; ++c) sum[c] += v[c];
      }
    for (int32_t c = 0; c < n; ++c)
      y[out + c0 + c] = count > 0 ? rounded_mean(sum[c], d) : static_cast<int8_t>(op.out_zp);
  }
}

// Whether a pooling's windows are 2x2 and tile its input (no padding,
// stride 2; LeNet-5's): faster kernels have a loop of their own for them.
inline bool tiles_2x2(const Op& op) {
  return op.pad_top == 0 && op.pad_left == 0 && op.kh == 2 && op.kw == 2 && op.sh == 2 && op.sw == 2 &&
         op.out_h * 2 <= op.in_h && op.out_w * 2 <= op.in_w;
}

inline void qavgpool_ref(const Op& op, const int8_t* x, int8_t* y) {
  Divider d = divider(1);
  for_each_window(op, [&](int32_t out, int32_t h0, int32_t h1, int32_t w0, int32_t w1) {
    qavgpool_window(op, x, y, out, h0, h1, w0, w1, d);
  });
}

inline void qglobal_avgpool_ref(const Op& op, const int8_t* x, int8_t* y) {
  const int32_t pixels = op.in_h * op.in_w;
  const Divider d = divider(pixels);
  for (int32_t c = 0; c < op.in_c; ++c) {
    int32_t sum = 0;
    for (int32_t p = 0; p < pixels; ++p) sum += x[p * op.in_c + c];
    y[c] = rounded_mean(sum, d);
  }
}

// ----- float reference kernels (layers left in float) -----------------------------

inline float activate(uint8_t a, float v) {
  switch (a) {
    case kRelu: return v > 0.f ? v : 0.f;
    case kRelu6: return v > 0.f ? (v < 6.f ? v : 6.f) : 0.f;
    case kTanh: return tanhf(v);
    case kSigmoid: return 1.f / (1.f + expf(-v));
    case kSwish: return v / (1.f + expf(-v));
    case kElu: return v > 0.f ? v : expf(v) - 1.f;
    default: return v;  // linear; softmax is applied over the whole vector
  }
}

// Softmax over each pixel's channels, in place.
inline void softmax(float* v, int32_t pixels, int32_t channels) {
  for (int32_t p = 0; p < pixels; ++p, v += channels) {
    float top = v[0];
    for (int32_t c = 1; c < channels; ++c) top = v[c] > top ? v[c] : top;
    float sum = 0.f;
    for (int32_t c = 0; c < channels; ++c) sum += (v[c] = expf(v[c] - top));
    for (int32_t c = 0; c < channels; ++c) v[c] /= sum;
  }
}

inline void activate_all(uint8_t a, float* v, int32_t pixels, int32_t channels) {
  if (a == kSoftmax) return softmax(v, pixels, channels);
  if (a == kLinear) return;
  for (int32_t i = 0; i < pixels * channels; ++i) v[i] = activate(a, v[i]);
}

inline void conv_ref(const Op& op, const float* x, float* y) {
  conv_sums(op, x, op.weight_f32, 0.f, [&](int32_t f) { return op.bias_f32 ? op.bias_f32[f] : 0.f; },
            [&](int32_t at, int32_t, float acc) { y[at] = acc; });
  activate_all(op.activation, y, op.out_h * op.out_w, op.out_c);
}

inline void dense_ref(const Op& op, const float* x, float* y) {
  const int32_t n = op.in_h * op.in_w * op.in_c, units = op.out_c;
  for (int32_t u = 0; u < units; ++u) y[u] = op.bias_f32 ? op.bias_f32[u] : 0.f;
  for (int32_t i = 0; i < n; ++i)
    for (int32_t u = 0; u < units; ++u) y[u] += x[i] * op.weight_f32[i * units + u];
  activate_all(op.activation, y, 1, units);
}

inline void pool_ref(const Op& op, bool is_max, const float* x, float* y) {
  for_each_window(op, [&](int32_t out, int32_t h0, int32_t h1, int32_t w0, int32_t w1) {
    const float n = static_cast<float>((h1 - h0) * (w1 - w0));
    for (int32_t c = 0; c < op.out_c; ++c) {
      float acc = is_max ? -INFINITY : 0.f;
      for (int32_t h = h0; h < h1; ++h)
        for (int32_t w = w0; w < w1; ++w) {
          const float v = x[(h * op.in_w + w) * op.in_c + c];
          acc = is_max ? (v > acc ? v : acc) : acc + v;
        }
      y[out + c] = is_max ? acc : acc / n;
    }
  });
}

inline void global_avgpool_ref(const Op& op, const float* x, float* y) {
  const int32_t pixels = op.in_h * op.in_w;
  for (int32_t c = 0; c < op.in_c; ++c) {
    float sum = 0.f;
    for (int32_t p = 0; p < pixels; ++p) sum += x[p * op.in_c + c];
    y[c] = sum / static_cast<float>(pixels);
  }
}

}  // namespace pcvm

#endif  // PYCONV_MICRO_PCVM_OPS_H

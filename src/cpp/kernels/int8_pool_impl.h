// The micro runtime's quantization and int8 pooling for one ISA, included
// inside that ISA's namespace by a file compiled for it (int8_avx2.cpp,
// int8_neon.cpp): loops of a fixed width that the compiler vectorises with
// the file's instructions, giving the reference kernels' bits
// (micro/pcvm_ops.h). The including file provides <algorithm>, <cstring>,
// micro/pcvm_ops.h, kernels/int8.h and its ISA's intrinsics header.

// pcvm::quantize_value for n values: roundf(v) as trunc(v) + sign(v) where
// |v - trunc(v)| >= 0.5 (exact: v - trunc(v) has no rounding), which the
// compiler vectorises where it does not vectorise roundf.
void int8_quantize(const float* x, int32_t n, float scale, int32_t zp, int8_t* y) {
  const float z = static_cast<float>(zp);
  for (int32_t i = 0; i < n; ++i) {
    const float v = x[i] / scale, t = __builtin_truncf(v);
    float r = t + (__builtin_fabsf(v - t) >= 0.5f ? __builtin_copysignf(1.f, v) : 0.f) + z;
    r = r >= -128.f ? r : -128.f;  // NaN too
    r = r <= 127.f ? r : 127.f;
    y[i] = static_cast<int8_t>(static_cast<int32_t>(r));
  }
}

namespace {

// Pooling takes a fixed number of channels at a time in GCC vector types of
// at most 32 bytes (which the compiler maps to the file's instructions),
// however few the chunk has: lanes past it read the next pixel's values and
// are not stored. Where fewer remain in the input, they are copied first.
using I8x16 = int8_t __attribute__((vector_size(16)));
using I8x8 = int8_t __attribute__((vector_size(8)));
using I32x8 = int32_t __attribute__((vector_size(32)));
using F32x8 = float __attribute__((vector_size(32)));

// (Copies of a constant size: the compiler makes them one load or store;
// a variable size would be a call to memcpy.)
template <class V>
[[gnu::noinline]] V last_lanes(const int8_t* x, int64_t at, int64_t size) {
  V v{};
  for (int64_t i = 0; at + i < size; ++i) v[i] = x[at + i];
  return v;
}

template <class V>
inline V lanes_at(const int8_t* x, int64_t at, int64_t size) {
  if (at + int64_t{sizeof(V)} > size) return last_lanes<V>(x, at, size);
  V v;
  std::memcpy(&v, x + at, sizeof(V));
  return v;
}

// The first n lanes of v at y, where `room` bytes from y on are the op's
// output: lanes past n may be written when they land inside it, since the
// windows are visited in order and the next one writes its own values there.
template <class V>
inline void store(int8_t* y, V v, int32_t n, int64_t room) {
  if (n >= static_cast<int32_t>(sizeof(V)) || room >= static_cast<int64_t>(sizeof(V))) {
    std::memcpy(y, &v, sizeof(V));
  } else {
    for (int32_t i = 0; i < n; ++i) y[i] = v[i];
  }
}

// pcvm::rounded_mean of 8 sums of `count` values, 1 < count <= 4096, in
// float: |sum| + count / 2 < 2^20 is exact, and its quotient by count is
// within 2^-16 of the true one (it is below 2^8), closer than any fraction
// k / count comes to an integer, so truncating it gives the integer division.
// A power-of-two count (2x2 windows) divides by a shift instead.
inline I32x8 rounded_means(I32x8 sum, int32_t count) {
  const I32x8 t = (sum < 0 ? -sum : sum) + count / 2;
  const I32x8 q = (count & (count - 1)) == 0
                      ? t >> __builtin_ctz(static_cast<unsigned>(count))
                      : __builtin_convertvector(__builtin_convertvector(t, F32x8) / static_cast<float>(count), I32x8);
  I32x8 v = sum < 0 ? -q : q;
  v = v < -128 ? -128 : v;
  return v > 127 ? 127 : v;
}

// 8 bytes widened to int32, and back (values in [-128, 127]). GCC builds
// these lane by lane for x86's 8-byte vectors, so AVX2 has its own.
inline I32x8 widen(I8x8 v) {
#if defined(__AVX2__)
  int64_t bits;
  std::memcpy(&bits, &v, 8);
  return reinterpret_cast<I32x8>(_mm256_cvtepi8_epi32(_mm_cvtsi64_si128(bits)));
#else
  return __builtin_convertvector(v, I32x8);
#endif
}

inline I8x8 narrow(I32x8 v) {
#if defined(__AVX2__)
  const __m256i w = reinterpret_cast<__m256i>(v);
  const __m128i words = _mm_packs_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
  const int64_t bits = _mm_cvtsi128_si64(_mm_packs_epi16(words, words));
  I8x8 r;
  std::memcpy(&r, &bits, 8);
  return r;
#else
  return __builtin_convertvector(v, I8x8);
#endif
}

int64_t input_size(const pcvm::Op& op) { return int64_t{op.in_h} * op.in_w * op.in_c; }
int64_t output_size(const pcvm::Op& op) { return int64_t{op.out_h} * op.out_w * op.out_c; }

}  // namespace

void int8_maxpool(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  const int64_t size = input_size(op), out_size = output_size(op);
  pcvm::for_each_window(op, [&](int32_t out, int32_t h0, int32_t h1, int32_t w0, int32_t w1) {
    for (int32_t c0 = 0; c0 < op.out_c; c0 += 16) {
      I8x16 m = I8x16{} + static_cast<int8_t>(-128);
      for (int32_t h = h0; h < h1; ++h)
        for (int32_t w = w0; w < w1; ++w) {
          const auto v = lanes_at<I8x16>(x, (int64_t{h} * op.in_w + w) * op.in_c + c0, size);
          m = v > m ? v : m;
        }
      store(y + out + c0, m, op.out_c - c0, out_size - out - c0);
    }
  });
}

namespace {

// 2x2 windows that tile the input (pcvm::tiles_2x2): walked row by row,
// each loading its four pixels unchecked where 8 bytes fit before the
// input's end. int8 LeNet-5 at batch 256 on one thread: pooling 21% -> 10%
// of its time, the model 2,563 -> 2,195 us (AVX-512 VNNI, through the C API).
void avgpool_2x2(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  const int64_t size = input_size(op), out_size = output_size(op), c = op.in_c;
  const int64_t row = int64_t{op.in_w} * c;
  for (int32_t oh = 0; oh < op.out_h; ++oh)
    for (int32_t ow = 0; ow < op.out_w; ++ow) {
      const int64_t first = (2 * oh * row) + 2 * ow * c, out = (int64_t{oh} * op.out_w + ow) * op.out_c;
      for (int32_t c0 = 0; c0 < op.out_c; c0 += 8) {
        const int64_t at = first + c0;
        I32x8 sum{};
        if (at + row + c + 8 <= size) {
          auto pixel = [&](int64_t i) {
            I8x8 v;
            std::memcpy(&v, x + i, 8);
            return widen(v);
          };
          sum = pixel(at) + pixel(at + c) + pixel(at + row) + pixel(at + row + c);
        } else {
          for (const int64_t i : {at, at + c, at + row, at + row + c}) sum += widen(lanes_at<I8x8>(x, i, size));
        }
        store(y + out + c0, narrow(rounded_means(sum, 4)), op.out_c - c0, out_size - out - c0);
      }
    }
}

}  // namespace

void int8_avgpool(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  if (pcvm::tiles_2x2(op)) return avgpool_2x2(op, x, y);
  const int64_t size = input_size(op), out_size = output_size(op);
  pcvm::Divider d = pcvm::divider(1);  // for the windows the reference takes
  pcvm::for_each_window(op, [&](int32_t out, int32_t h0, int32_t h1, int32_t w0, int32_t w1) {
    const int32_t count = (h1 - h0) * (w1 - w0);
    if (count <= 1 || count > 4096) return pcvm::qavgpool_window(op, x, y, out, h0, h1, w0, w1, d);
    for (int32_t c0 = 0; c0 < op.out_c; c0 += 8) {
      I32x8 sum{};
      for (int32_t h = h0; h < h1; ++h)
        for (int32_t w = w0; w < w1; ++w)
          sum += widen(lanes_at<I8x8>(x, (int64_t{h} * op.in_w + w) * op.in_c + c0, size));
      store(y + out + c0, narrow(rounded_means(sum, count)), op.out_c - c0, out_size - out - c0);
    }
  });
}

// Little-endian integers and floats to and from bytes, whatever the host's
// byte order, plus overflow-checked size arithmetic.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace pyconv::io {

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
constexpr bool kLittleEndianHost = false;
#else
constexpr bool kLittleEndianHost = true;
#endif

inline void store_u32(uint8_t* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline void store_u64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
inline uint32_t load_u32(const uint8_t* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(p[i]) << (8 * i);
  return v;
}
inline uint64_t load_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

// n float32 values to / from little-endian bytes (a plain copy on little-endian hosts).
inline void store_floats(uint8_t* dst, const float* src, size_t n) {
  if (kLittleEndianHost) {
    if (n) std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, &src[i], 4);
    store_u32(dst + 4 * i, bits);
  }
}
inline void load_floats(float* dst, const uint8_t* src, size_t n) {
  if (kLittleEndianHost) {
    if (n) std::memcpy(dst, src, n * sizeof(float));
    return;
  }
  for (size_t i = 0; i < n; ++i) {
    uint32_t bits = load_u32(src + 4 * i);
    std::memcpy(&dst[i], &bits, 4);
  }
}

// a + b and a * b; false (and `out` untouched) on overflow.
inline bool checked_add(uint64_t a, uint64_t b, uint64_t* out) {
  if (a > std::numeric_limits<uint64_t>::max() - b) return false;
  *out = a + b;
  return true;
}
inline bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) return false;
  *out = a * b;
  return true;
}
// Rounds up to a multiple of `align` (a power of two); false on overflow.
inline bool checked_align(uint64_t v, uint64_t align, uint64_t* out) {
  uint64_t bumped;
  if (!checked_add(v, align - 1, &bumped)) return false;
  *out = bumped & ~(align - 1);
  return true;
}

}  // namespace pyconv::io

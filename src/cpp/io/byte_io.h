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

// `bytes` bytes of 1- or 4-byte elements (float32, int8, int32) to / from
// little-endian bytes: a plain copy on little-endian hosts.
inline void store_elements(uint8_t* dst, const void* src, size_t bytes, size_t element) {
  if (kLittleEndianHost || element == 1) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  for (size_t i = 0; i < bytes; i += 4) {
    uint32_t v;
    std::memcpy(&v, static_cast<const uint8_t*>(src) + i, 4);
    store_u32(dst + i, v);
  }
}
inline void load_elements(void* dst, const uint8_t* src, size_t bytes, size_t element) {
  if (kLittleEndianHost || element == 1) {
    if (bytes) std::memcpy(dst, src, bytes);
    return;
  }
  for (size_t i = 0; i < bytes; i += 4) {
    const uint32_t v = load_u32(src + i);
    std::memcpy(static_cast<uint8_t*>(dst) + i, &v, 4);
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

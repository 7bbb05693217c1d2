// Dropout's element loop, included once per ISA inside that ISA's namespace
// (dropout_ref.cpp, dropout_avx2.cpp, dropout_avx512.cpp). Everything comes
// in arguments (values read through memory could be read again for every
// element instead of the loop vectorising). No mask is stored: backward
// hashes the kept elements again, a few integer operations a value where a
// byte a value would be written and read back. The including file provides
// <cstdint> and kernels/dropout.h.

namespace {

// murmur3's 32-bit finaliser: every input bit reaches every output bit.
inline uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85EBCA6Bu;
  h ^= h >> 13;
  h *= 0xC2B2AE35u;
  return h ^ (h >> 16);
}

// 32 random bits for element i of a run keyed (k0, k1): two rounds of the
// finaliser, the key's halves entering before each.
inline uint32_t element_bits(uint32_t k0, uint32_t k1, uint64_t i) {
  const uint32_t low = static_cast<uint32_t>(i), high = static_cast<uint32_t>(i >> 32);
  return fmix32(fmix32((low * 0x9E3779B1u) ^ k0) + high * 0x85EBCA77u + k1);
}

// Element i's 16 bits: elements come in groups of 32 from 16 hashes, hash
// j of group g (counter 16 g + j) giving element 32 g + j its low half and
// element 32 g + 16 + j its high half. Two elements a hash halve the
// hashing, which bounded the pass (not memory); the rate is then rounded to
// a multiple of 2^-16.
inline uint32_t element_half(uint32_t k0, uint32_t k1, uint64_t i) {
  const uint32_t bits = element_bits(k0, k1, i / 32 * 16 + i % 16);
  return (i & 16) ? bits >> 16 : bits & 0xFFFFu;
}

}  // namespace

void dropout_f32(const float* src, float* dst, int64_t lo, int64_t hi, uint32_t k0, uint32_t k1,
                 uint32_t threshold, float scale) {
  auto one = [&](int64_t i) {
    const float v = src[i] * scale;
    dst[i] = element_half(k0, k1, static_cast<uint64_t>(i)) >= threshold ? v : 0.f;
  };
  int64_t i = lo;
  for (; i < hi && i % 32 != 0; ++i) one(i);
  for (; i + 32 <= hi; i += 32) {  // whole groups: 16 hashes, then their two halves
    uint32_t bits[16];
    const uint64_t counter = static_cast<uint64_t>(i) / 2;
#pragma omp simd
    for (int j = 0; j < 16; ++j) bits[j] = element_bits(k0, k1, counter + j);
#pragma omp simd
    for (int j = 0; j < 16; ++j) {
      const float v = src[i + j] * scale;
      dst[i + j] = (bits[j] & 0xFFFFu) >= threshold ? v : 0.f;
    }
#pragma omp simd
    for (int j = 0; j < 16; ++j) {
      const float v = src[i + 16 + j] * scale;
      dst[i + 16 + j] = (bits[j] >> 16) >= threshold ? v : 0.f;
    }
  }
  for (; i < hi; ++i) one(i);
}

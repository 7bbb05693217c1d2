// Dropout's element loops, included once per ISA inside that ISA's namespace
// (dropout_ref.cpp, dropout_avx2.cpp, dropout_avx512.cpp). Everything comes
// in arguments (values read through memory could be read again for every
// element instead of the loop vectorising). No mask is stored: backward
// hashes the kept elements again, a few integer operations a value where a
// byte a value would be written and read back (the passes are
// memory-bound). The including file provides <cstdint> and kernels/dropout.h.

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

}  // namespace

void dropout_forward_f32(const float* x, float* y, int64_t lo, int64_t hi, uint32_t k0,
                         uint32_t k1, uint32_t threshold, float scale) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const bool keep = element_bits(k0, k1, static_cast<uint64_t>(i)) >= threshold;
    const float v = x[i] * scale;
    y[i] = keep ? v : 0.f;
  }
}

void dropout_backward_f32(const float* dy, float* dx, int64_t lo, int64_t hi, uint32_t k0,
                          uint32_t k1, uint32_t threshold, float scale) {
#pragma omp simd
  for (int64_t i = lo; i < hi; ++i) {
    const bool keep = element_bits(k0, k1, static_cast<uint64_t>(i)) >= threshold;
    const float v = dy[i] * scale;
    dx[i] = keep ? v : 0.f;
  }
}

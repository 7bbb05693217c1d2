#include "core/cpu_features.h"

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <cstdint>
#endif
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#endif

namespace pyconv {

namespace {

#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
// CPUID and the OS's saved register state (XCR0), read directly: libgcc's
// __builtin_cpu_supports would link its whole CPU model table (4.5 KB) for
// these few bits.
void read_x86(CpuFeatures& f) {
  unsigned a, b, c, d;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  uint64_t xcr0 = 0;
  if (osxsave) {
    unsigned lo, hi;
    __asm__("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (uint64_t{hi} << 32) | lo;
  }
  const bool ymm = avx && (xcr0 & 0x6) == 0x6;     // SSE and AVX state
  const bool zmm = ymm && (xcr0 & 0xe0) == 0xe0;   // and the AVX-512 state
  f.fma = ymm && fma;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return;
  f.avx2 = ymm && (b & (1u << 5));
  f.avx512f = zmm && (b & (1u << 16));
  const bool dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31),
             vnni = c & (1u << 11), vbmi = c & (1u << 1);
  f.avx512 = f.avx512f && dq && bw && vl;
  f.avx512_vnni = f.avx512f && bw && vl && vnni;
  f.avx512_vbmi = f.avx512f && bw && vl && vbmi;
}
#endif

}  // namespace

const CpuFeatures& cpu_features() {
  static const CpuFeatures features = [] {
    CpuFeatures f;
#if (defined(__x86_64__) || defined(__i386__)) && (defined(__GNUC__) || defined(__clang__))
    read_x86(f);
#endif
#if defined(__aarch64__) && defined(__linux__)
    f.arm_dotprod = (getauxval(AT_HWCAP) & (1ul << 20)) != 0;  // HWCAP_ASIMDDP
#endif
    return f;
  }();
  return features;
}

}  // namespace pyconv

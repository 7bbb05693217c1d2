// What the CPU can run, read once.
#pragma once

namespace pyconv {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
  bool avx512 = false;  // F, DQ, BW and VL: the float kernels' AVX-512 build
  bool avx512_vnni = false;  // with avx512bw and avx512vl: the int8 dot products
  bool avx512_vbmi = false;  // byte permutes across a whole vector (vpermb)
  bool arm_dotprod = false;  // AArch64's SDOT/UDOT
};

const CpuFeatures& cpu_features();

}  // namespace pyconv

// What the CPU can run, read once.
#pragma once

namespace pyconv {

struct CpuFeatures {
  bool avx2 = false;
  bool fma = false;
  bool avx512f = false;
};

const CpuFeatures& cpu_features();

}  // namespace pyconv

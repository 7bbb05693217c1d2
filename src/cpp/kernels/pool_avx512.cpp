// The pooling kernels built for the "avx512" ISA (flags: see src/cpp/CMakeLists.txt):
// the window maxima with their indices 16 channels at a time, with mask
// registers; the rest is pool_impl.h's loops, which the compiler widens.
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/threads.h"
#include "kernels/pool.h"

namespace pyconv::kernels::avx512 {
#include "kernels/avx2_lanes.h"
#include "kernels/pool_impl.h"
}  // namespace pyconv::kernels::avx512

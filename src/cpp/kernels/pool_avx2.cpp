// The pooling kernels built for the "avx2" ISA (flags: see src/cpp/CMakeLists.txt).
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/threads.h"
#include "kernels/pool.h"

namespace pyconv::kernels::avx2 {
#include "kernels/avx2_lanes.h"
#include "kernels/pool_impl.h"
}  // namespace pyconv::kernels::avx2

// The depthwise kernels built for the "avx2" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cstring>

#include "kernels/depthwise.h"

namespace pyconv::kernels::avx2 {
#include "kernels/depthwise_impl.h"
}  // namespace pyconv::kernels::avx2

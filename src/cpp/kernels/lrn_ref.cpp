// The local response normalization kernels built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/lrn.h"

namespace pyconv::kernels::ref {
#include "kernels/vmath_impl.h"
#include "kernels/lrn_impl.h"
}  // namespace pyconv::kernels::ref

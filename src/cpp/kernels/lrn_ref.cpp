// The local response normalization kernels built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <type_traits>

#include "kernels/lrn.h"

namespace pyconv::kernels::ref {

#include "kernels/scratch.h"
#include "kernels/vmath_impl.h"
#include "kernels/lrn_impl.h"
}  // namespace pyconv::kernels::ref

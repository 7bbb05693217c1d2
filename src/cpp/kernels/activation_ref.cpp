// The element-wise activation kernels built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/activation.h"
#include "kernels/finite.h"

namespace pyconv::kernels::ref {
#include "kernels/vmath_impl.h"
#include "kernels/activation_impl.h"
}  // namespace pyconv::kernels::ref

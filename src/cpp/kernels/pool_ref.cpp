// The pooling kernels built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cstring>
#include <limits>
#include <vector>

#include "core/threads.h"
#include "kernels/pool.h"

namespace pyconv::kernels::ref {
#include "kernels/pool_impl.h"
}  // namespace pyconv::kernels::ref

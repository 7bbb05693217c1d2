// The depthwise kernels built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cstring>
#include <cstdlib>
#include <new>

#include "kernels/depthwise.h"

namespace pyconv::kernels::ref {

#include "kernels/scratch.h"
#include "kernels/depthwise_impl.h"
}  // namespace pyconv::kernels::ref

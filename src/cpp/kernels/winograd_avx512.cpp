// The Winograd transforms built for the "avx512" ISA (flags: see src/cpp/CMakeLists.txt).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <new>

#include "kernels/winograd.h"

namespace pyconv::kernels::avx512 {

#include "kernels/scratch.h"
#include "kernels/winograd_impl.h"
}  // namespace pyconv::kernels::avx512

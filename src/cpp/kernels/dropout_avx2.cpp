// Dropout's element loops built for the "avx2" ISA (flags: see src/cpp/CMakeLists.txt).
#include <cstdint>

#include "kernels/dropout.h"

namespace pyconv::kernels::avx2 {
#include "kernels/dropout_impl.h"
}  // namespace pyconv::kernels::avx2

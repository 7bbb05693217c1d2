// Dropout's element loops built for the "avx512" ISA (flags: see src/cpp/CMakeLists.txt).
#include <cstdint>

#include "kernels/dropout.h"

namespace pyconv::kernels::avx512 {
#include "kernels/dropout_impl.h"
}  // namespace pyconv::kernels::avx512

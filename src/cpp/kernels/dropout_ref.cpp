// Dropout's element loops built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <cstdint>

#include "kernels/dropout.h"

namespace pyconv::kernels::ref {
#include "kernels/dropout_impl.h"
}  // namespace pyconv::kernels::ref

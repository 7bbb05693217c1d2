// The finiteness scan built for the "ref" ISA (flags: see src/cpp/CMakeLists.txt).
#include <cstdint>
#include <cstring>

#include "kernels/finite.h"

namespace pyconv::kernels::ref {
#include "kernels/finite_impl.h"
}  // namespace pyconv::kernels::ref

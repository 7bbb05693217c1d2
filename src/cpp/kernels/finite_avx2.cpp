// The finiteness scan built for the "avx2" ISA (flags: see src/cpp/CMakeLists.txt).
#include <cstdint>
#include <cstring>

#include "kernels/finite.h"

namespace pyconv::kernels::avx2 {
#include "kernels/finite_impl.h"
}  // namespace pyconv::kernels::avx2

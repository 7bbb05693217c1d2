// The finiteness scan built for the "avx512" ISA (flags: see src/cpp/CMakeLists.txt).
#include <cstdint>
#include <cstring>

#include "kernels/finite.h"

namespace pyconv::kernels::avx512 {
#include "kernels/finite_impl.h"
}  // namespace pyconv::kernels::avx512

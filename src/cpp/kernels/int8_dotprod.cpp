// int8 GEMM for AArch64 with the dot-product instructions (SDOT; compiled with
// -march=armv8.2-a+dotprod, this file only): see int8_neon_impl.h.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8.h"
#include "micro/pcvm_ops.h"

namespace pyconv::kernels::dotprod {

#include "kernels/int8_requantize.h"
#include "kernels/int8_neon_impl.h"

}  // namespace pyconv::kernels::dotprod

// int8 GEMM for AArch64, baseline Advanced SIMD: see int8_neon_impl.h.
#include <arm_neon.h>

#include <algorithm>
#include <cstring>

#include "kernels/int8.h"
#include "micro/pcvm_ops.h"

namespace pyconv::kernels::neon {

#include "kernels/int8_requantize.h"
#include "kernels/int8_neon_impl.h"
#include "kernels/int8_pool_impl.h"

}  // namespace pyconv::kernels::neon

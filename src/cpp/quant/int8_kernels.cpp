// The micro runtime's int8 kernels for the kernel table in use.
#include "quant/quantized_model.h"

namespace pyconv {

const pcvm::Kernels& int8_kernels() { return pcvm::reference_kernels(); }

}  // namespace pyconv

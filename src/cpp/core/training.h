// Whether the training code is built. A runtime-only build
// (-DPYCONV_RUNTIME_ONLY=ON, for devices that only run models) leaves out
// the backward passes, losses and optimizers: each training entry point
// starts with require_training(), which there throws StateError, and the
// compiler drops the rest of that function and, with the linker's section
// garbage collection, whatever only it used.
#pragma once

#ifndef PYCONV_RUNTIME_ONLY
#define PYCONV_RUNTIME_ONLY 0
#endif

namespace pyconv {

inline constexpr bool kTrainingBuilt = !PYCONV_RUNTIME_ONLY;

[[noreturn]] void training_not_built(const char* what);

inline void require_training(const char* what) {
  if constexpr (!kTrainingBuilt) training_not_built(what);
}

}  // namespace pyconv

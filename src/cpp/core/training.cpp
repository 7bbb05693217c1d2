#include "core/training.h"

#include "core/error.h"

namespace pyconv {

void training_not_built(const char* what) {
  throw StateError(cat(what, " needs the training code, which this runtime-only build of pyconv "
                       "(PYCONV_RUNTIME_ONLY) leaves out"));
}

}  // namespace pyconv

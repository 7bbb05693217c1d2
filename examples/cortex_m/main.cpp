// The firmware: checks the model that `python -m pyconv export-c` wrote,
// then runs it on each sample and prints the predicted class on its own
// line. Everything lives in static memory: the arena is sized at export.
#include <stdint.h>

#include "model.h"
#include "micro/pcvm.h"
#include "semihosting.h"

namespace {

alignas(16) unsigned char arena[kPyconvArenaBytes];
float output[kPyconvOutputSize];

void print_int(int32_t v) {
  char text[16];
  char* p = text + sizeof text;
  *--p = '\0';
  *--p = '\n';
  const bool negative = v < 0;
  uint32_t u = negative ? 0u - static_cast<uint32_t>(v) : static_cast<uint32_t>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (negative) *--p = '-';
  semihosting::write(p);
}

}  // namespace

int main() {
  int32_t bad = -1;
  if (pcvm::check(pyconv_model, &bad) != pcvm::kOk) {
    semihosting::write("the model does not pass pcvm::check at op ");
    print_int(bad);
    return 2;
  }
  if (pcvm::arena_bytes(pyconv_model) > sizeof arena) {
    semihosting::write("the arena is smaller than the model needs\n");
    return 3;
  }
  for (int32_t s = 0; s < pyconv_sample_count; ++s) {
    const float* x = pyconv_samples + s * kPyconvInputSize;
    if (pcvm::run(pyconv_model, x, output, arena, sizeof arena) != pcvm::kOk) return 4;
    int32_t best = 0;
    for (int32_t k = 1; k < kPyconvOutputSize; ++k)
      if (output[k] > output[best]) best = k;
    print_int(best);
  }
  return 0;
}

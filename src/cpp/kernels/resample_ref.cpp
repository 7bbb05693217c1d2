// The reference resampling kernels: every pixel through the scalar code.
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "core/threads.h"
#include "kernels/resample.h"

namespace pyconv::kernels::ref {

#include "kernels/resample_impl.h"

void resample_forward(const ResampleGeometry& g, const float* in, float* out, int64_t N,
                      const AffineMap* maps, int threads) {
  forward_impl(g, in, out, N, maps, threads,
               [](const Sampler&, const AffineMap&, const float*, float*, int64_t, int64_t) {
                 return int64_t{0};
               });
}

void resample_backward(const ResampleGeometry& g, const float* dout, float* din, int64_t N,
                       const AffineMap* maps, int threads) {
  backward_impl(g, dout, din, N, maps, threads);
}

}  // namespace pyconv::kernels::ref

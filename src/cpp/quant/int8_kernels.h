// The library's int8 convolution and dense kernels for the micro runtime:
// weights packed once per model for the CPU's int8 GEMM (kernels/int8.h),
// convolution inputs gathered into rows (im2col) for it.
#pragma once
#include <cstdint>
#include <vector>

#include "kernels/int8.h"
#include "micro/pcvm.h"

namespace pyconv {

// One int8 convolution or dense op's weights, packed for one kernel set.
struct PackedInt8 {
  const kernels::Int8Isa* isa = nullptr;
  int64_t depth = 0, padded_depth = 0, group_channels = 0;
  int64_t seg = 0;            // the depth's segments (Int8Gemm::seg); 0: im2col rows
  std::vector<int8_t> w8;     // groups x blocks x (padded_depth / 4) x 64
  std::vector<int16_t> w16;   // the same, widened (AVX2)
  std::vector<int32_t> bias;  // per output channel, adjusted for the kernel's input offset
  bool lanes = false;         // every channel fits 32-bit lanes (pcvm::fits_lanes)
  // For a one-channel convolution on a kernel set with plane_conv (see
  // kernels::Int8PlaneConv), where its taps fit the windows; else empty.
  struct PlaneTaps {
    int groups = 0;
    std::vector<uint8_t> index;
    std::vector<int32_t> start, w;
    uint8_t interleave[192] = {};
  } plane;

  const void* group(int64_t g) const;
};

PackedInt8 pack_int8(const kernels::Int8Isa& isa, const pcvm::Op& op);

// A dense op on many samples at once, through its PackedInt8 (the reference
// kernel where it has none), so that its weights are read once for many
// rows: x holds `rows` inputs ldx apart (ldx at least the packed depth, with
// zeros from the op's depth to it), y gets `rows` outputs ldy apart.
void qdense_rows(const pcvm::Op& op, const int8_t* x, int64_t ldx, int64_t rows, int8_t* y, int64_t ldy);

// While one lives, the kernels below split one sample's op among at most
// `threads` threads (the calling thread's calls only; num_threads() else).
class OpThreads {
 public:
  explicit OpThreads(int threads);
  ~OpThreads();
  OpThreads(const OpThreads&) = delete;
  OpThreads& operator=(const OpThreads&) = delete;

 private:
  int saved_;
};

// pcvm::Kernels that run a convolution or dense op through its PackedInt8
// (Op::packed), or the reference kernel where an op has none, and the other
// passes with isa's kernels (the reference ones when isa is null).
pcvm::Kernels int8_kernels(const kernels::Int8Isa* isa);

}  // namespace pyconv

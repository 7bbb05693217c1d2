// int8 GEMM kernels for the micro runtime's convolution and dense ops on a
// CPU with vector units: y (int8) = requantize(a (int8 rows) x w + bias),
// the same bits as the reference kernels (micro/pcvm_ops.h) give.
//
// Weights are packed once per model, in blocks of 16 output channels and
// groups of 4 depth steps: block b, group g holds 64 bytes, 4 per channel
// (w[4g .. 4g + 3][16b + c] for c = 0..15), zero past the ends; the AVX2
// kernel widens them to int16 when packing. A kernel set with an input
// offset (VNNI: 128) reads each input byte as x + offset, unsigned: its
// callers store the inputs so (x ^ 0x80), once a layer, rather than the
// kernel flipping each byte at every one of its reads. The bias is adjusted
// for it: bias - offset * column sum (offset: the input's zero point, plus
// the kernel set's input offset).
#pragma once
#include <cstdint>

#include "micro/pcvm.h"

namespace pyconv::kernels {

struct Int8Gemm {
  const int8_t* a;  // M rows of at least kp values (zeros past k), lda apart
  int64_t lda, M;
  // The depth in segments, for kernels whose Int8Isa says `segments` (an
  // im2col the kernel does as it reads): row m's depth steps [s * seg,
  // (s + 1) * seg) are at a + m * lda + s * seg_stride. seg is a multiple
  // of 4 dividing kp; seg == kp (one segment) for every other kernel.
  int64_t seg, seg_stride;
  const void* w;    // packed: ceil(n / 16) blocks of kp / 4 groups
  int64_t kp, n;    // depth rounded up to 4; output channels
  const int32_t *bias, *multiplier, *shift;  // per output channel (bias adjusted)
  int32_t out_zp, act_min, act_max;
  int8_t* y;        // y[m * ldy + c]
  int64_t ldy;
  // Rows M .. M + kInt8TailRows - 1 may be read too (the caller's buffer
  // has room; their sums are never stored): a tile then runs over the last
  // rows as over any others, with no copy of them.
  bool tail_readable = false;
  // The same product `repeats` times, the r-th on rows from a + r * a_step
  // to outputs from y + r * y_step (a convolution's output rows, in one
  // call that sets its blocks up once).
  int64_t repeats = 1, a_step = 0, y_step = 0;
  // For kernel sets with Int8Isa::gemm_pool_2x2: the repeats are output
  // rows in pairs, and each 2x2 block of a pair's sums (pixels 2j, 2j + 1 of
  // both rows) goes out pooled: kMax, its largest sum requantized (a max
  // pooling whose windows tile the output: requantization never decreases,
  // so this is the pooling of the requantized outputs exactly); kAverage,
  // the rounded mean of its four requantized outputs, as
  // pcvm::qavgpool_ref takes it. Pair i's M / 2 pixels go to
  // y + i * y_step. Needs tail_readable, and channels that fit 32-bit lanes.
  enum Pool2x2 : uint8_t { kNoPool, kMax, kAverage };
  Pool2x2 pool_2x2 = kNoPool;
};

// Calls one(g') for each of g's repeats: g' is g moved to it, repeats 1.
template <class F>
void for_each_repeat(const Int8Gemm& g, F&& one) {
  Int8Gemm r = g;
  r.repeats = 1;
  for (int64_t i = 0; i < g.repeats; ++i, r.a += g.a_step, r.y += g.y_step) one(r);
}

// The most rows past M a kernel reads where Int8Gemm::tail_readable.
constexpr int64_t kInt8TailRows = 12;

using Int8GemmFn = void (*)(const Int8Gemm& g);

// A convolution of a one-channel input (a grey image's first layer) into at
// most 8 channels, for kernel sets that have one (Int8Isa::plane_conv):
// each vector holds 16 output pixels of one channel, each lane the dot
// product of 4 of its pixel's taps, where the GEMM's rows of pixels by 16
// channels would leave half of every vector or more unused. The taps are
// numbered row by row (k = ky * kw + kx) in groups of 4; a group's input
// bytes for 16 pixels come from one 64-byte window of the input, permuted.
struct Int8PlaneConv {
  const uint8_t* x;  // the input as the kernel set reads it, padded: output
                     // pixel (r, c)'s taps start at x + r * row_step + c * sw
  int64_t row_step, sw;
  int64_t out_w, rows;  // pixels a row; output rows
  // Where not 0, each 2x2 block of output pixels is averaged (an average
  // pooling whose windows tile the output, pcvm::tiles_2x2): y then gets
  // `rows` rows of pooled_w pixels, pooled row r from output rows 2r and 2r + 1.
  int64_t pooled_w;
  int groups, channels;
  const uint8_t* index;  // per group, 64 bytes: lane j's byte i is window byte index[64g + 4j + i]
  const int32_t* start;  // per group: its window's offset from the pixel's first tap
  const int32_t* w;      // per group, an even count of channels (channels rounded up, the
                         // last zero): its 4 taps' weights (zeros past the last tap)
  // 192 bytes: output byte b of 16 pixels <- channel-major byte (128), and
  // of 8 pooled pixels <- their bytes by pairs of channels (64; see vbmi)
  const uint8_t* interleave;
  const int32_t *bias, *multiplier, *shift;  // per channel; bias adjusted, shifts <= 0
  int32_t out_zp, act_min, act_max;
  int8_t* y;  // rows * out_w pixels of `channels` bytes
};

// One int8 kernel set: the packed weight layout (bytes per 64 packed
// values: 64, or 128 when widened to int16), and the input offset its dot
// products add (see above).
struct Int8Isa {
  const char* name;
  int bytes_per_value;
  int32_t input_offset;  // 0, or 128: the inputs handed to gemm are x ^ 0x80 (see above)
  Int8GemmFn gemm;
  bool segments;  // gemm reads Int8Gemm::seg and seg_stride
  // The micro runtime's other int8 passes (pcvm::Kernels), vectorised.
  void (*quantize)(const float* x, int32_t n, float scale, int32_t zp, int8_t* y);
  void (*maxpool)(const pcvm::Op& op, const int8_t* x, int8_t* y);
  void (*avgpool)(const pcvm::Op& op, const int8_t* x, int8_t* y);
  void (*plane_conv)(const Int8PlaneConv& c) = nullptr;  // null: convolutions go to gemm
  bool gemm_pool_2x2 = false;  // gemm takes Int8Gemm::pool_2x2
};

// The best int8 kernels this CPU runs under the selected kernel table: a
// table named "ref" gives null (the micro runtime's reference kernels).
const Int8Isa* active_int8_isa();
// Every int8 kernel set compiled in and supported here, for the tests.
const Int8Isa* int8_isa(const char* name);

#define PCV_INT8_DECL void int8_gemm(const Int8Gemm& g);
#define PCV_INT8_POOL_DECL                                                        \
  void int8_quantize(const float* x, int32_t n, float scale, int32_t zp, int8_t* y); \
  void int8_maxpool(const pcvm::Op& op, const int8_t* x, int8_t* y);               \
  void int8_avgpool(const pcvm::Op& op, const int8_t* x, int8_t* y);
namespace avx2 {
PCV_INT8_DECL
PCV_INT8_POOL_DECL
}
namespace vnni {  // with avx2's other passes
PCV_INT8_DECL
}
namespace vbmi {  // vnni's, one-channel convolutions and quantization at 16 lanes
void int8_plane_conv(const Int8PlaneConv& c);
void int8_quantize(const float* x, int32_t n, float scale, int32_t zp, int8_t* y);
}
namespace neon {
PCV_INT8_DECL
PCV_INT8_POOL_DECL
}
namespace dotprod {  // with neon's other passes
PCV_INT8_DECL
}
#undef PCV_INT8_DECL
#undef PCV_INT8_POOL_DECL

}  // namespace pyconv::kernels

// pcvm, the pyconv micro runtime: runs a chain of int8 (and float) layers on
// one sample at a time, in an arena the caller gives. It is the engine of
// every quantized model (pyconv.quantize): the library runs it, and so does
// a microcontroller, where it is compiled on its own (examples/cortex_m).
// So it is freestanding C++: no heap, no exceptions, no RTTI, no C++
// library; only <stdint.h>, <stddef.h>, <string.h> and <math.h>.
//
// Tensors are one sample's (H, W, C) in channels-last order; a vector is
// (1, 1, n). An int8 tensor holds q, with x = scale * (q - zero_point).
// Weights are quantized per output channel and symmetric (zero point 0),
// biases are int32 at scale input_scale * weight_scale, and accumulators are
// brought back to int8 with an integer multiplier and shift as TFLite does
// (pcvm_ops.h), so every build of these kernels gives the same bits.
#ifndef PYCONV_MICRO_PCVM_H
#define PYCONV_MICRO_PCVM_H

#include <stddef.h>
#include <stdint.h>

namespace pcvm {

enum OpType : uint8_t {
  kQuantize,        // float -> int8 (scale, zero point of the output)
  kDequantize,      // int8 -> float (scale, zero point of the input)
  kQConv2D,         // int8 convolution (groups; depthwise when groups == C)
  kQDense,          // int8 fully connected
  kQMaxPool2D,      // int8 pooling keeps its input's scale and zero point
  kQAvgPool2D,
  kQGlobalAvgPool,  // to (1, 1, C)
  kQLookup,         // y = table[x + 128]: any element-wise activation
  kReshape,         // the same values, another shape (Flatten)
  kConv2D,          // float layers, for those left in float
  kDense,
  kMaxPool2D,
  kAvgPool2D,
  kGlobalAvgPool,
  kActivation,
  kOpTypeCount
};

// Float activations (kActivation, and fused into kConv2D / kDense).
enum Activation : uint8_t {
  kLinear, kRelu, kRelu6, kTanh, kSigmoid, kSoftmax, kSwish, kElu, kActivationCount
};

struct Op {
  uint8_t type;        // OpType
  uint8_t activation;  // Activation: float ops only
  // Input and output shapes of one sample.
  int32_t in_h, in_w, in_c, out_h, out_w, out_c;
  // Convolution and pooling windows: kernel, strides, dilation, padding
  // before (after is implied by the output size), groups.
  int32_t kh, kw, sh, sw, dh, dw, pad_top, pad_left, groups;
  // int8: the input's and output's zero points, and the output clamp (a
  // fused ReLU is act_min = out_zp). Quantize/dequantize: scale.
  int32_t in_zp, out_zp, act_min, act_max;
  float scale;
  // Weights: int8 (kh, kw, C / groups, F) or (inputs, units) for the int8
  // layers, float for the float ones; per output channel int32 bias,
  // multiplier and shift; the lookup table of 256 values.
  const int8_t* weight_i8;
  const int32_t* bias_i32;
  const int32_t* multiplier;
  const int32_t* shift;
  const int8_t* table;
  const float* weight_f32;
  const float* bias_f32;
  // A faster kernel's own copy of the weights, prepared by the library when
  // it loads the model; null in a microcontroller build.
  const void* packed;
};

struct Model {
  const Op* ops;
  int32_t op_count;
};

enum Status : int32_t {
  kOk = 0,
  kBadModel = 1,     // an op's fields are inconsistent (pcvm_check says which)
  kArenaTooSmall = 2,
};

// Bytes of arena run() needs: the most any op holds at once, its input and
// its output, each aligned to 16 bytes (the two ends of the arena).
size_t arena_bytes(const Model& m);

// Checks every op's shapes, windows and pointers, and that each op's input
// is the previous op's output. Returns kOk, or kBadModel with *bad_op set.
Status check(const Model& m, int32_t* bad_op);

// Elements of the model's input and output (the first op's input, the last
// op's output); float32 both.
int32_t input_size(const Model& m);
int32_t output_size(const Model& m);

// The int8 kernels run() calls: the reference ones (pcvm_ops.h), or faster
// ones for the CPU that give the same bits.
struct Kernels {
  void (*qconv)(const Op& op, const int8_t* x, int8_t* y);
  void (*qdense)(const Op& op, const int8_t* x, int8_t* y);
  void (*quantize)(const float* x, int32_t n, float scale, int32_t zero_point, int8_t* y);
  void (*qmaxpool)(const Op& op, const int8_t* x, int8_t* y);
  void (*qavgpool)(const Op& op, const int8_t* x, int8_t* y);
  // Optional: a convolution and the pooling after it in one pass (y: the
  // pooling's output), where the kernels take the pair; false where they
  // do not (the two ops then run one by one). Null in the reference set.
  bool (*qconv_pool)(const Op& conv, const Op& pool, const int8_t* x, int8_t* y);
};
const Kernels& reference_kernels();

// One sample: input (input_size floats) to output (output_size floats).
// The model must have passed check(); arena holds arena_bytes(m) bytes.
Status run(const Model& m, const float* input, float* output, void* arena, size_t arena_size,
           const Kernels& kernels = reference_kernels());

// Ops [first, last) on one sample: input as op `first` reads it (floats, or
// int8 after a quantized op), output as op last - 1 writes it.
Status run_ops(const Model& m, int32_t first, int32_t last, const void* input, void* output, void* arena,
               size_t arena_size, const Kernels& kernels = reference_kernels());

// run_ops for a caller that keeps arena_bytes(m) (`size`, not checked: it
// must be that, and the arena hold that many bytes), so as not to compute it
// on every call: the library's batch-1 calls run a few microseconds.
Status run_ops_sized(const Model& m, int32_t first, int32_t last, const void* input, void* output, void* arena,
                     size_t size, const Kernels& kernels);

}  // namespace pcvm

#endif  // PYCONV_MICRO_PCVM_H

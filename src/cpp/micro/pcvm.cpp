// The micro runtime's interpreter: checks a model's ops, and runs them one
// after the other in the caller's arena, each reading its input at one end
// and writing its output at the other.
#include "micro/pcvm.h"

#include <string.h>

#include "micro/pcvm_ops.h"

namespace pcvm {

namespace {

enum DType { kF32, kI8 };

bool is_int8_op(uint8_t t) {
  return t == kQConv2D || t == kQDense || t == kQMaxPool2D || t == kQAvgPool2D ||
         t == kQGlobalAvgPool || t == kQLookup;
}

// The element type an op reads and writes; a reshape passes its input's on.
DType input_type(uint8_t t, DType previous) {
  if (t == kReshape) return previous;
  return t == kDequantize || is_int8_op(t) ? kI8 : kF32;
}
DType output_type(uint8_t t, DType previous) {
  if (t == kReshape) return previous;
  return t == kQuantize || is_int8_op(t) ? kI8 : kF32;
}

// h * w * c, or -1 if a dimension is below 1 or the product passes 2^28
// elements (1 GiB of floats: far beyond any device this runtime is for).
int64_t elements(int32_t h, int32_t w, int32_t c) {
  if (h < 1 || w < 1 || c < 1) return -1;
  const int64_t n = static_cast<int64_t>(h) * w * c;
  return n > (int64_t{1} << 28) ? -1 : n;
}

bool window_ok(const Op& op) {
  return op.kh >= 1 && op.kw >= 1 && op.sh >= 1 && op.sw >= 1 && op.dh >= 1 && op.dw >= 1 &&
         op.pad_top >= 0 && op.pad_left >= 0 && op.kh <= 4096 && op.kw <= 4096 &&
         op.sh <= 4096 && op.sw <= 4096 && op.dh <= 4096 && op.dw <= 4096 &&
         op.pad_top <= 4096 && op.pad_left <= 4096;
}

// Windows that fit their input: along each axis, padding before and after
// smaller than the window's extent (so every window reads some input), at
// most stride - 1 input rows left over at the end, and the padded input no
// larger than 2^28 values. The output size then is the usual formula's.
bool axis_fits(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d, int64_t pad, int64_t* padded) {
  const int64_t extent = (k - 1) * d + 1;
  const int64_t after = (out - 1) * s + extent - in - pad;  // padding the last window needs
  *padded = pad + in + (after > 0 ? after : 0);
  return pad < extent && after < extent && after > -s;
}

bool geometry_ok(const Op& op) {
  int64_t h, w;
  return axis_fits(op.in_h, op.out_h, op.kh, op.sh, op.dh, op.pad_top, &h) &&
         axis_fits(op.in_w, op.out_w, op.kw, op.sw, op.dw, op.pad_left, &w) &&
         h * w * op.in_c <= (int64_t{1} << 28);
}

bool int8_ok(int32_t v) { return v >= -128 && v <= 127; }

bool requant_ok(const Op& op) {
  if (!op.multiplier || !op.shift || !op.weight_i8) return false;
  // int32 sums cannot overflow: each product is at most 255 x 127 (weights
  // are in [-127, 127], as TFLite's), so 2^15 of them stay below 2^30, and
  // biases below 2^29 leave room for the kernels' offset adjustment.
  const int64_t depth = op.type == kQDense ? int64_t{op.in_h} * op.in_w * op.in_c
                                           : int64_t{op.kh} * op.kw * (op.in_c / op.groups);
  if (depth > (1 << 15)) return false;
  for (int32_t f = 0; f < op.out_c; ++f)
    if (op.multiplier[f] < 0 || op.shift[f] < -31 || op.shift[f] > 30 ||
        (op.bias_i32 && (op.bias_i32[f] > (1 << 29) || op.bias_i32[f] < -(1 << 29))))
      return false;
  return int8_ok(op.in_zp) && int8_ok(op.out_zp) && int8_ok(op.act_min) && int8_ok(op.act_max) &&
         op.act_min <= op.act_max;
}

bool scale_ok(float s) { return s > 0.f && s < INFINITY; }

bool op_ok(const Op& op) {
  const int64_t in = elements(op.in_h, op.in_w, op.in_c), out = elements(op.out_h, op.out_w, op.out_c);
  if (in < 0 || out < 0 || op.type >= kOpTypeCount || op.activation >= kActivationCount) return false;
  const bool same_shape = op.in_h == op.out_h && op.in_w == op.out_w && op.in_c == op.out_c;
  switch (op.type) {
    case kQuantize:
    case kDequantize:
      return same_shape && scale_ok(op.scale) && int8_ok(op.in_zp);
    case kQConv2D:
    case kConv2D:
      if (!window_ok(op) || !geometry_ok(op) || op.groups < 1 || op.in_c % op.groups ||
          op.out_c % op.groups)
        return false;
      return op.type == kConv2D ? op.weight_f32 != nullptr : requant_ok(op);
    case kQDense:
    case kDense:
      if (op.out_h != 1 || op.out_w != 1) return false;
      return op.type == kDense ? op.weight_f32 != nullptr : requant_ok(op);
    case kQMaxPool2D:
    case kQAvgPool2D:
    case kMaxPool2D:
    case kAvgPool2D:
      // Windows of at most 2^24 values: their int32 sums cannot overflow.
      return window_ok(op) && op.dh == 1 && op.dw == 1 && geometry_ok(op) && op.in_c == op.out_c &&
             int8_ok(op.out_zp) && int64_t{op.kh} * op.kw <= (1 << 24);
    case kQGlobalAvgPool:
    case kGlobalAvgPool:
      return op.out_h == 1 && op.out_w == 1 && op.in_c == op.out_c &&
             int64_t{op.in_h} * op.in_w <= (1 << 24);
    case kQLookup:
      return same_shape && op.table != nullptr;
    case kReshape:
      return in == out;
    case kActivation:
      return same_shape;
    default:
      return false;
  }
}

size_t align16(size_t n) { return (n + 15) / 16 * 16; }

size_t tensor_bytes(int32_t h, int32_t w, int32_t c, DType t) {
  return static_cast<size_t>(elements(h, w, c)) * (t == kF32 ? 4 : 1);
}

}  // namespace

Status check(const Model& m, int32_t* bad_op) {
  DType t = kF32;  // the model's input is float
  for (int32_t k = 0; k < m.op_count; ++k) {
    const Op& op = m.ops[k];
    bool ok = op_ok(op) && input_type(op.type, t) == t;
    if (ok && k > 0) {
      const Op& prev = m.ops[k - 1];
      ok = op.in_h == prev.out_h && op.in_w == prev.out_w && op.in_c == prev.out_c;
    }
    if (!ok) {
      if (bad_op) *bad_op = k;
      return kBadModel;
    }
    t = output_type(op.type, t);
  }
  if (m.op_count < 1 || t != kF32) {  // the output is float too
    if (bad_op) *bad_op = m.op_count - 1;
    return kBadModel;
  }
  return kOk;
}

int32_t input_size(const Model& m) {
  return m.op_count ? static_cast<int32_t>(elements(m.ops[0].in_h, m.ops[0].in_w, m.ops[0].in_c)) : 0;
}

int32_t output_size(const Model& m) {
  if (!m.op_count) return 0;
  const Op& last = m.ops[m.op_count - 1];
  return static_cast<int32_t>(elements(last.out_h, last.out_w, last.out_c));
}

// Ops that may write their output over their input (element by element),
// and one that moves nothing.
bool in_place(uint8_t t) { return t == kQLookup || t == kActivation || t == kReshape; }

size_t arena_bytes(const Model& m) {
  // The most any op holds at once: its input and its output (the first op
  // only its output: its input is the caller's; an op in place only one).
  size_t most = 0;
  DType t = kF32;
  for (int32_t k = 0; k < m.op_count; ++k) {
    const Op& op = m.ops[k];
    const size_t in = k == 0 ? 0 : align16(tensor_bytes(op.in_h, op.in_w, op.in_c, t));
    t = output_type(op.type, t);
    const size_t out = align16(tensor_bytes(op.out_h, op.out_w, op.out_c, t));
    const size_t both = k > 0 && in_place(op.type) ? in : in + out;
    most = both > most ? both : most;
  }
  return most;
}

const Kernels& reference_kernels() {
  static const Kernels k{qconv_ref, qdense_ref, quantize_ref, qmaxpool_ref, qavgpool_ref, nullptr};
  return k;
}

Status run(const Model& m, const float* input, float* output, void* arena, size_t arena_size,
           const Kernels& kernels) {
  return run_ops(m, 0, m.op_count, input, output, arena, arena_size, kernels);
}

Status run_ops(const Model& m, int32_t first, int32_t last, const void* input, void* output, void* arena,
               size_t arena_size, const Kernels& kernels) {
  if (first < 0 || last > m.op_count || first >= last) return kBadModel;
  const size_t size = arena_bytes(m);
  if (!arena || arena_size < size) return kArenaTooSmall;
  return run_ops_sized(m, first, last, input, output, arena, size, kernels);
}

Status run_ops_sized(const Model& m, int32_t first, int32_t last, const void* input, void* output, void* arena,
                     size_t size, const Kernels& kernels) {
  if (first < 0 || last > m.op_count || first >= last) return kBadModel;
  unsigned char* const low = static_cast<unsigned char*>(arena);
  const void* x = input;
  bool x_low = false;  // x is at the arena's start (else at its end, or the caller's)
  bool x_arena = false;  // x is in the arena (not the caller's)
  DType t = kF32;      // what x holds
  for (int32_t k = 0; k < first; ++k) t = output_type(m.ops[k].type, t);
  // Where op's output (of `type`) goes: the end of the arena x is not at.
  auto other_end = [&](const Op& op, DType type) -> void* {
    return x_low ? low + size - align16(tensor_bytes(op.out_h, op.out_w, op.out_c, type)) : low;
  };
  for (int32_t k = first; k < last; ++k) {
    const Op& op = m.ops[k];
    if (op.type == kReshape) continue;  // same bytes, new shape
    const DType out_type = output_type(op.type, t);
    void* y = x_arena && in_place(op.type) ? const_cast<void*>(x) : other_end(op, out_type);
    const int32_t n = static_cast<int32_t>(elements(op.in_h, op.in_w, op.in_c));
    const auto* xi = static_cast<const int8_t*>(x);
    const auto* xf = static_cast<const float*>(x);
    auto* yi = static_cast<int8_t*>(y);
    auto* yf = static_cast<float*>(y);
    switch (op.type) {
      case kQuantize: kernels.quantize(xf, n, op.scale, op.in_zp, yi); break;
      case kDequantize:
        for (int32_t i = 0; i < n; ++i) yf[i] = op.scale * static_cast<float>(xi[i] - op.in_zp);
        break;
      case kQConv2D:
        if (kernels.qconv_pool && k + 1 < last) {
          void* pooled = other_end(m.ops[k + 1], kI8);
          if (kernels.qconv_pool(op, m.ops[k + 1], xi, static_cast<int8_t*>(pooled))) {
            y = pooled;
            ++k;  // the pooling's output is in y
            break;
          }
        }
        kernels.qconv(op, xi, yi);
        break;
      case kQDense: kernels.qdense(op, xi, yi); break;
      case kQMaxPool2D: kernels.qmaxpool(op, xi, yi); break;
      case kQAvgPool2D: kernels.qavgpool(op, xi, yi); break;
      case kQGlobalAvgPool: qglobal_avgpool_ref(op, xi, yi); break;
      case kQLookup:
        for (int32_t i = 0; i < n; ++i) yi[i] = op.table[xi[i] + 128];
        break;
      case kConv2D: conv_ref(op, xf, yf); break;
      case kDense: dense_ref(op, xf, yf); break;
      case kMaxPool2D: pool_ref(op, true, xf, yf); break;
      case kAvgPool2D: pool_ref(op, false, xf, yf); break;
      case kGlobalAvgPool: global_avgpool_ref(op, xf, yf); break;
      case kActivation:
        if (yf != xf) memcpy(yf, xf, static_cast<size_t>(n) * sizeof(float));
        activate_all(op.activation, yf, op.in_h * op.in_w, op.in_c);
        break;
      default: return kBadModel;
    }
    x = y;
    x_low = y == low;
    x_arena = true;
    t = out_type;
  }
  const Op& end = m.ops[last - 1];
  memcpy(output, x, tensor_bytes(end.out_h, end.out_w, end.out_c, t));
  return kOk;
}

}  // namespace pcvm

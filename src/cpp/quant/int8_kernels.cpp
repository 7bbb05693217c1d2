#include "quant/int8_kernels.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "core/cpu_features.h"
#include "kernels/dispatch.h"
#include "micro/pcvm_ops.h"

namespace pyconv {

namespace {

using kernels::Int8Isa;

// The op's int8 weight W[k][f] of group g (f within the group), k over taps
// and channels: convolution weights are (kh, kw, C / groups, F), dense (n, F).
int8_t weight_at(const pcvm::Op& op, int64_t g, int64_t k, int64_t f, int64_t fg) {
  return op.weight_i8[k * op.out_c + g * fg + f];
}

int64_t depth_of(const pcvm::Op& op) {
  if (op.type == pcvm::kQDense) return int64_t{op.in_h} * op.in_w * op.in_c;
  return int64_t{op.kh} * op.kw * (op.in_c / op.groups);
}

// Rows for the GEMM: output pixels [p0, p0 + rows) of group g, each its taps'
// inputs (the input's zero point where a tap falls in the padding) and zeros
// up to the padded depth.
void gather_rows(const pcvm::Op& op, const int8_t* x, int64_t g, int64_t p0, int64_t rows,
                 int64_t kp, int8_t* out) {
  const int64_t cg = op.in_c / op.groups;
  const auto pad = static_cast<int8_t>(op.in_zp);
  for (int64_t r = 0; r < rows; ++r, out += kp) {
    const int32_t oh = static_cast<int32_t>((p0 + r) / op.out_w), ow = static_cast<int32_t>((p0 + r) % op.out_w);
    int8_t* o = out;
    for (int32_t i = 0; i < op.kh; ++i) {
      const int32_t ih = pcvm::tap_at(oh, op.sh, op.pad_top, i, op.dh);
      for (int32_t j = 0; j < op.kw; ++j, o += cg) {
        const int32_t iw = pcvm::tap_at(ow, op.sw, op.pad_left, j, op.dw);
        if (ih < 0 || ih >= op.in_h || iw < 0 || iw >= op.in_w)
          std::memset(o, static_cast<unsigned char>(pad), static_cast<size_t>(cg));
        else
          std::memcpy(o, x + (int64_t{ih} * op.in_w + iw) * op.in_c + g * cg, static_cast<size_t>(cg));
      }
    }
    std::memset(o, 0, static_cast<size_t>(kp - (o - out)));
  }
}

thread_local std::vector<int8_t> t_rows;

kernels::Int8Gemm gemm_args(const pcvm::Op& op, const PackedInt8& p, int64_t g) {
  kernels::Int8Gemm a{};
  a.w = p.group(g);
  a.kp = p.padded_depth;
  a.n = p.group_channels;
  a.bias = p.bias.data() + g * p.group_channels;
  a.multiplier = op.multiplier + g * p.group_channels;
  a.shift = op.shift + g * p.group_channels;
  a.out_zp = op.out_zp, a.act_min = op.act_min, a.act_max = op.act_max;
  a.ldy = op.out_c;
  return a;
}

void packed_qconv(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  if (!op.packed) return pcvm::qconv_ref(op, x, y);
  const auto& p = *static_cast<const PackedInt8*>(op.packed);
  const int64_t pixels = int64_t{op.out_h} * op.out_w, kp = p.padded_depth;
  // A 1x1 convolution over all channels reads the input as it lies.
  const bool direct = op.kh == 1 && op.kw == 1 && op.sh == 1 && op.sw == 1 && op.pad_top == 0 &&
                      op.pad_left == 0 && op.groups == 1 && kp == op.in_c;
  constexpr int64_t kRows = 64;  // pixels gathered at a time
  if (!direct && static_cast<int64_t>(t_rows.size()) < kRows * kp) t_rows.resize(kRows * kp);
  for (int64_t g = 0; g < op.groups; ++g) {
    kernels::Int8Gemm a = gemm_args(op, p, g);
    for (int64_t p0 = 0; p0 < pixels; p0 += kRows) {
      a.M = std::min(kRows, pixels - p0);
      if (direct) {
        a.a = x + p0 * op.in_c, a.lda = op.in_c;
      } else {
        gather_rows(op, x, g, p0, a.M, kp, t_rows.data());
        a.a = t_rows.data(), a.lda = kp;
      }
      a.y = y + p0 * op.out_c + g * p.group_channels;
      p.isa->gemm(a);
    }
  }
}

void packed_qdense(const pcvm::Op& op, const int8_t* x, int8_t* y) {
  if (!op.packed) return pcvm::qdense_ref(op, x, y);
  const auto& p = *static_cast<const PackedInt8*>(op.packed);
  kernels::Int8Gemm a = gemm_args(op, p, 0);
  a.M = 1, a.y = y, a.lda = p.padded_depth;
  if (p.padded_depth == p.depth) {
    a.a = x;
  } else {  // zeros up to the padded depth
    if (static_cast<int64_t>(t_rows.size()) < p.padded_depth) t_rows.resize(p.padded_depth);
    std::memcpy(t_rows.data(), x, static_cast<size_t>(p.depth));
    std::memset(t_rows.data() + p.depth, 0, static_cast<size_t>(p.padded_depth - p.depth));
    a.a = t_rows.data();
  }
  p.isa->gemm(a);
}

const Int8Isa kIsas[] = {
// Best first.
#if defined(PYCONV_HAVE_VNNI)
    {"avx512_vnni", 1, 128, kernels::vnni::int8_gemm},
#endif
#if defined(PYCONV_HAVE_AVX2)
    {"avx2", 2, 0, kernels::avx2::int8_gemm},
#endif
#if defined(PYCONV_HAVE_DOTPROD)
    {"neon_dotprod", 1, 0, kernels::dotprod::int8_gemm},
#endif
#if defined(PYCONV_HAVE_NEON)
    {"neon", 1, 0, kernels::neon::int8_gemm},
#endif
    {"ref", 0, 0, nullptr},  // keeps the array non-empty; never selected
};

bool supported(const Int8Isa& isa) {
  const std::string name = isa.name;
  if (name == "avx512_vnni") return cpu_features().avx512_vnni;
  if (name == "avx2") return cpu_features().avx2;
  if (name == "neon_dotprod") return cpu_features().arm_dotprod;
  return name == "neon";
}

}  // namespace

const void* PackedInt8::group(int64_t g) const {
  const int64_t blocks = (group_channels + 15) / 16, size = blocks * padded_depth * 16;
  return isa->bytes_per_value == 2 ? static_cast<const void*>(w16.data() + g * size)
                                   : static_cast<const void*>(w8.data() + g * size);
}

PackedInt8 pack_int8(const Int8Isa& isa, const pcvm::Op& op) {
  PackedInt8 p;
  p.isa = &isa;
  p.depth = depth_of(op);
  p.padded_depth = (p.depth + 3) / 4 * 4;
  p.group_channels = op.out_c / op.groups;
  const int64_t fg = p.group_channels, blocks = (fg + 15) / 16, kp = p.padded_depth;
  std::vector<int8_t> w(static_cast<size_t>(op.groups * blocks * kp * 16), 0);
  p.bias.resize(static_cast<size_t>(op.out_c));
  for (int64_t g = 0; g < op.groups; ++g)
    for (int64_t f = 0; f < fg; ++f) {
      int64_t column_sum = 0;
      int8_t* dst = w.data() + ((g * blocks + f / 16) * kp) * 16 + (f % 16) * 4;
      for (int64_t k = 0; k < p.depth; ++k) {
        const int8_t v = weight_at(op, g, k, f, fg);
        dst[(k / 4) * 64 + k % 4] = v;
        column_sum += v;
      }
      const int64_t c = g * fg + f;
      p.bias[c] = static_cast<int32_t>((op.bias_i32 ? op.bias_i32[c] : 0) -
                                       (op.in_zp + isa.input_offset) * column_sum);
    }
  if (isa.bytes_per_value == 2)
    p.w16.assign(w.begin(), w.end());
  else
    p.w8 = std::move(w);
  return p;
}

const pcvm::Kernels& packed_int8_kernels() {
  static const pcvm::Kernels k{packed_qconv, packed_qdense};
  return k;
}

namespace kernels {

const Int8Isa* int8_isa(const char* name) {
  for (const Int8Isa& isa : kIsas)
    if (isa.gemm && std::string(isa.name) == name && supported(isa)) return &isa;
  return nullptr;
}

const Int8Isa* active_int8_isa() {
  const std::string table = active().isa;
  if (table == "ref") return nullptr;
  for (const Int8Isa& isa : kIsas)
    if (isa.gemm && supported(isa)) return &isa;
  return nullptr;
}

}  // namespace kernels

}  // namespace pyconv

// Every int8 kernel set this CPU runs (AVX-512 VNNI, AVX2, NEON, NEON with
// SDOT) against the micro runtime's reference kernels, bit for bit: random
// convolutions (odd sizes, strides, dilation, padding, groups, depthwise,
// 1x1) and dense layers, random zero points and requantization factors,
// left shifts included, batch of one sample at a time.
#include <algorithm>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "check.h"
#include "kernels/int8.h"
#include "micro/pcvm.h"
#include "micro/pcvm_ops.h"
#include "quant/int8_kernels.h"

namespace {

struct RandomOp {
  pcvm::Op op{};
  std::vector<int8_t> w, x;
  std::vector<int32_t> bias, mult, shift;
};

int32_t pick(std::mt19937& rng, int32_t lo, int32_t hi) {
  return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
}

void fill_common(std::mt19937& rng, RandomOp& r, int64_t weights, int64_t inputs) {
  pcvm::Op& op = r.op;
  r.w.resize(static_cast<size_t>(weights));
  for (int8_t& v : r.w) v = static_cast<int8_t>(pick(rng, -127, 127));
  r.x.resize(static_cast<size_t>(inputs));
  for (int8_t& v : r.x) v = static_cast<int8_t>(pick(rng, -128, 127));
  for (int32_t f = 0; f < op.out_c; ++f) {
    r.bias.push_back(pick(rng, -20000, 20000));
    r.mult.push_back(pick(rng, 1 << 30, INT32_MAX));
    // Mostly right shifts, as real models have (none at all too); now and
    // then a left one.
    r.shift.push_back(pick(rng, 0, 9) == 0 ? pick(rng, 1, 3) : pick(rng, -14, 0));
  }
  op.weight_i8 = r.w.data();
  op.bias_i32 = r.bias.data();
  op.multiplier = r.mult.data();
  op.shift = r.shift.data();
  op.in_zp = pick(rng, -128, 127);
  op.out_zp = pick(rng, -128, 127);
  op.act_min = pick(rng, -128, 0);
  // Every other op a fused ReLU, whose clamp starts at the zero point or
  // above: kernels may round such outputs in one step.
  if (pick(rng, 0, 1)) op.act_min = pick(rng, op.out_zp, std::min(op.out_zp + 3, 127));
  op.act_max = pick(rng, op.act_min, 127);
}

RandomOp random_conv(std::mt19937& rng, int trial) {
  RandomOp r;
  pcvm::Op& op = r.op;
  op.type = pcvm::kQConv2D;
  op.kh = pick(rng, 1, 5), op.kw = pick(rng, 1, 5);
  op.sh = pick(rng, 1, 3), op.sw = pick(rng, 1, 3);
  op.dh = pick(rng, 1, 2), op.dw = pick(rng, 1, 2);
  op.groups = trial % 4 == 0 ? pick(rng, 1, 3) : 1;
  const int32_t cg = pick(rng, 1, 19), fg = pick(rng, 1, 37);
  op.in_c = cg * op.groups, op.out_c = fg * op.groups;
  if (trial % 7 == 0) op.groups = op.in_c, op.out_c = op.in_c * pick(rng, 1, 2);  // depthwise
  if (trial % 5 == 0) op.kh = op.kw = op.sh = op.sw = op.dh = op.dw = 1;       // 1x1
  op.in_h = pick(rng, (op.kh - 1) * op.dh + 1, 13), op.in_w = pick(rng, (op.kw - 1) * op.dw + 1, 13);
  op.pad_top = pick(rng, 0, op.kh - 1), op.pad_left = pick(rng, 0, op.kw - 1);
  op.out_h = (op.in_h + 2 * op.pad_top - op.dh * (op.kh - 1) - 1) / op.sh + 1;
  op.out_w = (op.in_w + 2 * op.pad_left - op.dw * (op.kw - 1) - 1) / op.sw + 1;
  fill_common(rng, r, int64_t{op.kh} * op.kw * (op.in_c / op.groups) * op.out_c,
              int64_t{op.in_h} * op.in_w * op.in_c);
  return r;
}

RandomOp random_dense(std::mt19937& rng) {
  RandomOp r;
  pcvm::Op& op = r.op;
  op.type = pcvm::kQDense;
  op.in_h = op.in_w = op.out_h = op.out_w = 1;
  op.in_c = pick(rng, 1, 700), op.out_c = pick(rng, 1, 70);
  op.groups = 1;
  fill_common(rng, r, int64_t{op.in_c} * op.out_c, op.in_c);
  return r;
}

// The op's output with the reference kernels, and with `isa` packed.
std::vector<int8_t> run(const RandomOp& r, const pyconv::kernels::Int8Isa* isa) {
  pcvm::Op op = r.op;
  pyconv::PackedInt8 packed;
  if (isa) {
    packed = pyconv::pack_int8(*isa, op);
    op.packed = &packed;
  }
  std::vector<int8_t> y(static_cast<size_t>(op.out_h) * op.out_w * op.out_c);
  const pcvm::Kernels k = pyconv::int8_kernels(isa);
  (op.type == pcvm::kQDense ? k.qdense : k.qconv)(op, r.x.data(), y.data());
  return y;
}

const char* const kIsaNames[] = {"avx512_vnni_vbmi", "avx512_vnni", "avx2", "neon_dotprod", "neon"};

TEST_CASE(test_every_int8_kernel_set_matches_the_reference) {
  int compared = 0, sets = 0;
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    ++sets;
    std::mt19937 rng(7);
    for (int trial = 0; trial < 300; ++trial) {
      const RandomOp r = trial % 3 == 2 ? random_dense(rng) : random_conv(rng, trial);
      const std::vector<int8_t> want = run(r, nullptr), got = run(r, isa);
      if (got != want) {
        size_t i = 0;
        while (got[i] == want[i]) ++i;
        CHECK(got == want);
        std::printf("  %s, trial %d (%s %dx%dx%d -> %dx%dx%d, k %dx%d, s %dx%d, d %dx%d, g %d): "
                    "output %zu is %d, the reference %d\n", name, trial,
                    r.op.type == pcvm::kQDense ? "dense" : "conv", r.op.in_h, r.op.in_w, r.op.in_c,
                    r.op.out_h, r.op.out_w, r.op.out_c, r.op.kh, r.op.kw, r.op.sh, r.op.sw,
                    r.op.dh, r.op.dw, r.op.groups, i, got[i], want[i]);
        break;
      }
      ++compared;
    }
    std::printf("  %s: %d random ops give the reference's bytes\n", name, compared);
    compared = 0;
  }
  if (!sets) std::printf("  this CPU runs no int8 kernel set besides the reference: nothing compared\n");
}

// Requantization at its extremes, through dense ops of one to four inputs
// whose biases put the sums anywhere in int32: every right shift from 0 to
// 31 (and left ones), multipliers from 0 to INT32_MAX, clamps that start
// below the zero point and at it or above (a fused ReLU, which kernels may
// round in one step).
TEST_CASE(test_int8_requantization_matches_the_reference_at_its_extremes) {
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    std::mt19937 rng(37);
    int ops = 0;
    for (int trial = 0; trial < 400; ++trial, ++ops) {
      RandomOp r;
      pcvm::Op& op = r.op;
      op.type = pcvm::kQDense;
      op.in_h = op.in_w = op.out_h = op.out_w = op.groups = 1;
      op.in_c = pick(rng, 1, 4), op.out_c = pick(rng, 1, 40);
      fill_common(rng, r, int64_t{op.in_c} * op.out_c, op.in_c);
      for (int32_t f = 0; f < op.out_c; ++f) {
        const int32_t right = (trial + f) % 32;
        r.shift[f] = trial % 9 == 8 ? pick(rng, 1, 30) : -right;
        const int32_t m = pick(rng, 0, 5);
        r.mult[f] = m == 0 ? 0 : m == 1 ? INT32_MAX : m == 2 ? 1 : pick(rng, 0, INT32_MAX);
        // The sum still fits: 4 products of at most 255 x 127 are below 2^17.
        r.bias[f] = pick(rng, INT32_MIN + (1 << 17), INT32_MAX - (1 << 17));
      }
      const std::vector<int8_t> want = run(r, nullptr), got = run(r, isa);
      if (got != want) {
        size_t i = 0;
        while (got[i] == want[i]) ++i;
        CHECK(got == want);
        std::printf("  %s, trial %d: channel %zu (shift %d, multiplier %d, bias %d, zero point %d, clamp "
                    "%d..%d) gave %d, the reference %d\n", name, trial, i, r.shift[i], r.mult[i], r.bias[i],
                    op.out_zp, op.act_min, op.act_max, got[i], want[i]);
        return;
      }
    }
    std::printf("  %s: %d dense ops at the requantization's extremes give the reference's bytes\n", name, ops);
  }
}

// Sums that requantize to within the zero point of int32's ends (a left
// shift that saturates, or a multiplier of INT32_MAX with no right shift):
// the output clamps as the true sum plus the zero point does, in the
// reference and in every kernel set (the zero point added in 32 bits wrapped
// to the other end, undefined behaviour in C++).
TEST_CASE(test_outputs_near_int32s_ends_clamp_as_their_true_values) {
  RandomOp r;
  pcvm::Op& op = r.op;
  op.type = pcvm::kQDense;
  op.in_h = op.in_w = op.out_h = op.out_w = op.groups = op.in_c = 1;
  op.out_c = 32;  // a block of 16 channels each way: blocks go to the vector path whole
  r.x.assign(1, 127);
  for (int32_t f = 0; f < 32; ++f) {
    // Sums of INT32_MAX - 50 or INT32_MIN + 50 (the product 127 x +-127,
    // the rest in the bias): within the zero point of int32's ends either
    // way, left-shifted to saturation or multiplied by INT32_MAX / 2^31.
    const bool up = f % 2 == 0;
    r.w.push_back(up ? 127 : -127);
    r.bias.push_back(up ? INT32_MAX - 127 * 127 - 50 : INT32_MIN + 127 * 127 + 50);
    r.mult.push_back(INT32_MAX);
    r.shift.push_back(f < 16 ? 5 : 0);  // a saturated left shift, or none
  }
  op.weight_i8 = r.w.data(), op.bias_i32 = r.bias.data(), op.multiplier = r.mult.data(), op.shift = r.shift.data();
  op.act_min = -128, op.act_max = 127;
  for (const int32_t zp : {-100, 100}) {
    op.out_zp = zp;
    std::vector<int8_t> want(32);
    for (int32_t f = 0; f < 32; ++f) want[f] = f % 2 == 0 ? 127 : -128;  // the true values' clamps
    CHECK(run(r, nullptr) == want);
    for (const char* name : kIsaNames)
      if (const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name)) {
        const bool same = run(r, isa) == want;
        if (!same) std::printf("  %s, zero point %d: outputs near int32's ends differ\n", name, zp);
        CHECK(same);
      }
  }
}

// A random one-channel convolution into 1-8 channels: kernels up to k x k,
// strides up to s, dilations up to d, inputs up to n x n (or LeNet-5's first
// layer: 28x28, 5x5 "same", 6 channels), right shifts only.
RandomOp one_channel_conv(std::mt19937& rng, int32_t k, int32_t s, int32_t d, int32_t n, bool lenet = false) {
  RandomOp r;
  pcvm::Op& op = r.op;
  op.type = pcvm::kQConv2D;
  op.in_c = op.groups = 1;
  op.out_c = lenet ? 6 : pick(rng, 1, 8);
  op.kh = lenet ? 5 : pick(rng, 1, k), op.kw = lenet ? 5 : pick(rng, 1, k);
  op.sh = lenet ? 1 : pick(rng, 1, s), op.sw = lenet ? 1 : pick(rng, 1, s);
  op.dh = lenet ? 1 : pick(rng, 1, d), op.dw = lenet ? 1 : pick(rng, 1, d);
  op.in_h = lenet ? 28 : pick(rng, (op.kh - 1) * op.dh + 2, n);
  op.in_w = lenet ? 28 : pick(rng, (op.kw - 1) * op.dw + 2, n);
  op.pad_top = lenet ? 2 : pick(rng, 0, op.kh - 1), op.pad_left = lenet ? 2 : pick(rng, 0, op.kw - 1);
  op.out_h = (op.in_h + 2 * op.pad_top - op.dh * (op.kh - 1) - 1) / op.sh + 1;
  op.out_w = (op.in_w + 2 * op.pad_left - op.dw * (op.kw - 1) - 1) / op.sw + 1;
  fill_common(rng, r, int64_t{op.kh} * op.kw * op.out_c, int64_t{op.in_h} * op.in_w);
  for (int32_t& v : r.shift) v = std::min(v, 0);
  return r;
}

// A kernel set's plane_conv called directly, as the library calls it
// (quant/int8_kernels.cpp: the input padded with its zero point, flipped,
// and 64 bytes readable past it), on buffers of exactly that size and an
// output of exactly its size (under AddressSanitizer in CI, a read or write
// past either fails), with and without the 2x2 pooling: against the
// reference ops.
TEST_CASE(test_one_channel_kernel_touches_only_its_buffers) {
  int compared = 0;
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa || !isa->plane_conv) continue;
    std::mt19937 rng(47);
    for (int trial = 0; trial < 200; ++trial) {
      const RandomOp r = one_channel_conv(rng, 7, 3, 2, 40, trial == 0);
      const pcvm::Op& op = r.op;
      const pyconv::PackedInt8 p = pyconv::pack_int8(*isa, op);
      const bool pooled = trial % 2 == 1;
      if (!p.plane.groups || (pooled && (op.out_h < 2 || op.out_w < 2))) continue;
      const int64_t width = int64_t{op.out_w - 1} * op.sw + int64_t{op.kw - 1} * op.dw + 1;
      const int64_t height = int64_t{op.out_h - 1} * op.sh + int64_t{op.kh - 1} * op.dh + 1;
      const auto padded = std::make_unique<uint8_t[]>(static_cast<size_t>(height * width + 64));
      for (int64_t i = 0; i < height * width + 64; ++i) {
        const int64_t row = i / width - op.pad_top, col = i % width - op.pad_left;
        const bool inside = i < height * width && row >= 0 && row < op.in_h && col >= 0 && col < op.in_w;
        padded[i] = static_cast<uint8_t>((inside ? r.x[row * op.in_w + col] : op.in_zp) ^ 0x80);
      }
      pcvm::Op pool{};
      pool.type = pcvm::kQAvgPool2D, pool.in_h = op.out_h, pool.in_w = op.out_w, pool.in_c = pool.out_c = op.out_c;
      pool.kh = pool.kw = pool.sh = pool.sw = 2, pool.dh = pool.dw = 1, pool.out_h = op.out_h / 2, pool.out_w = op.out_w / 2;
      std::vector<int8_t> want(static_cast<size_t>(op.out_h) * op.out_w * op.out_c);
      pcvm::qconv_ref(op, r.x.data(), want.data());
      if (pooled) {
        std::vector<int8_t> conv = want;
        want.resize(static_cast<size_t>(pool.out_h) * pool.out_w * pool.out_c);
        pcvm::qavgpool_ref(pool, conv.data(), want.data());
      }
      const auto got = std::make_unique<int8_t[]>(want.size());
      pyconv::kernels::Int8PlaneConv c{};
      c.x = padded.get(), c.row_step = op.sh * width, c.sw = op.sw;
      c.out_w = op.out_w, c.rows = pooled ? pool.out_h : op.out_h, c.pooled_w = pooled ? pool.out_w : 0;
      c.groups = p.plane.groups, c.channels = op.out_c;
      c.index = p.plane.index.data(), c.start = p.plane.start.data(), c.w = p.plane.w.data();
      c.interleave = p.plane.interleave;
      c.bias = p.bias.data(), c.multiplier = op.multiplier, c.shift = op.shift;
      c.out_zp = op.out_zp, c.act_min = op.act_min, c.act_max = op.act_max;
      c.y = got.get();
      isa->plane_conv(c);
      const bool same = std::equal(want.begin(), want.end(), got.get());
      if (!same) std::printf("  %s, trial %d (pooled %d) differs\n", name, trial, pooled);
      CHECK(same);
      ++compared;
    }
  }
  std::printf("  %d one-channel convolutions on buffers of exactly their size give the reference's bytes\n",
              compared);
}

// The arena is the most one op holds at once, its input and its output
// (each aligned to 16 bytes; one of them for an op in place), not two of the
// largest tensor: a model of quantize (6x6x1), a 3x3 convolution into 8
// channels, 2x2 average pooling (which kernel sets with qconv_pool run with
// the convolution), flatten, a dense layer of 10 and dequantize needs
// max(48, 48 + 288, 288 + 80, 80 + 16, 16 + 48) = 368 bytes (two of its
// largest tensor: 576), and so does the same model with a lookup (tanh's
// table) after the convolution, in place. Each runs in exactly that many
// (AddressSanitizer watches the ends), giving what a large arena gives; one
// byte fewer is refused.
TEST_CASE(test_the_arena_holds_one_ops_input_and_output) {
  std::mt19937 rng(43);
  RandomOp conv = one_channel_conv(rng, 3, 1, 1, 6);
  pcvm::Op& c = conv.op;
  c.kh = c.kw = 3, c.sh = c.sw = c.dh = c.dw = 1, c.pad_top = c.pad_left = 1;
  c.in_h = c.in_w = c.out_h = c.out_w = 6, c.out_c = 8;
  conv.w.resize(9 * 8), conv.bias.resize(8), conv.mult.resize(8), conv.shift.resize(8);
  for (int8_t& v : conv.w) v = static_cast<int8_t>(pick(rng, -127, 127));
  for (int32_t f = 0; f < 8; ++f) conv.bias[f] = pick(rng, -2000, 2000), conv.mult[f] = 1 << 30, conv.shift[f] = -6;
  c.weight_i8 = conv.w.data(), c.bias_i32 = conv.bias.data(), c.multiplier = conv.mult.data(), c.shift = conv.shift.data();
  c.in_zp = 3, c.act_min = c.out_zp;  // a fused ReLU
  RandomOp dense = random_dense(rng);
  pcvm::Op& d = dense.op;
  d.in_c = 72, d.out_c = 10;
  dense.w.resize(72 * 10), dense.bias.resize(10), dense.mult.resize(10), dense.shift.resize(10);
  for (int8_t& v : dense.w) v = static_cast<int8_t>(pick(rng, -127, 127));
  for (int32_t f = 0; f < 10; ++f) dense.bias[f] = 0, dense.mult[f] = 1 << 30, dense.shift[f] = -8;
  d.weight_i8 = dense.w.data(), d.bias_i32 = dense.bias.data(), d.multiplier = dense.mult.data(), d.shift = dense.shift.data();
  d.in_zp = c.out_zp;
  int8_t table[256];
  for (int i = 0; i < 256; ++i) table[i] = static_cast<int8_t>(std::clamp((i - 128) / 2 + 10, -128, 127));
  pcvm::Op quantize{}, pool{}, flatten{}, dequantize{}, lookup{};
  quantize.type = pcvm::kQuantize, quantize.scale = 1.f / 64, quantize.in_zp = c.in_zp;
  quantize.in_h = quantize.out_h = quantize.in_w = quantize.out_w = 6, quantize.in_c = quantize.out_c = 1;
  lookup.type = pcvm::kQLookup, lookup.table = table;
  lookup.in_h = lookup.out_h = lookup.in_w = lookup.out_w = 6, lookup.in_c = lookup.out_c = 8;
  pool.type = pcvm::kQAvgPool2D, pool.in_h = pool.in_w = 6, pool.in_c = pool.out_c = 8;
  pool.out_h = pool.out_w = 3, pool.kh = pool.kw = pool.sh = pool.sw = 2, pool.dh = pool.dw = 1;
  pool.in_zp = pool.out_zp = c.out_zp;
  flatten.type = pcvm::kReshape, flatten.in_h = flatten.in_w = 3, flatten.in_c = 8;
  flatten.out_h = flatten.out_w = 1, flatten.out_c = 72;
  dequantize.type = pcvm::kDequantize, dequantize.scale = 0.1f, dequantize.in_zp = d.out_zp;
  dequantize.in_h = dequantize.out_h = dequantize.in_w = dequantize.out_w = 1;
  dequantize.in_c = dequantize.out_c = 10;
  for (const bool with_lookup : {false, true}) {
    std::vector<pcvm::Op> ops = {quantize, c, pool, flatten, d, dequantize};
    if (with_lookup) ops.insert(ops.begin() + 2, lookup);
    const pcvm::Model model{ops.data(), static_cast<int32_t>(ops.size())};
    int32_t bad = -1;
    CHECK(pcvm::check(model, &bad) == pcvm::kOk);
    CHECK(pcvm::arena_bytes(model) == 368);
    std::vector<float> x(36), want(10), got(10);
    for (float& v : x) v = std::uniform_real_distribution<float>(-1.f, 1.f)(rng);
    std::vector<unsigned char> roomy(4096);
    CHECK(pcvm::run(model, x.data(), want.data(), roomy.data(), roomy.size()) == pcvm::kOk);
    const auto exact = std::make_unique<unsigned char[]>(368);
    CHECK(pcvm::run(model, x.data(), got.data(), exact.get(), 368) == pcvm::kOk);
    CHECK(got == want);
    CHECK(pcvm::run(model, x.data(), got.data(), exact.get(), 367) == pcvm::kArenaTooSmall);
    for (const char* name : kIsaNames) {
      const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
      if (!isa) continue;
      std::vector<pcvm::Op> packed_ops = ops;
      std::vector<pyconv::PackedInt8> packed;
      packed.reserve(ops.size());
      for (pcvm::Op& op : packed_ops)
        if (op.type == pcvm::kQConv2D || op.type == pcvm::kQDense) {
          packed.push_back(pyconv::pack_int8(*isa, op));
          op.packed = &packed.back();
        }
      std::fill(got.begin(), got.end(), -1.f);
      CHECK(pcvm::run({packed_ops.data(), model.op_count}, x.data(), got.data(), exact.get(), 368,
                      pyconv::int8_kernels(isa)) == pcvm::kOk);
      if (got != want) std::printf("  %s%s: the model in an exact arena differs\n", name, with_lookup ? " (lookup)" : "");
      CHECK(got == want);
    }
  }
}

// One-channel convolutions (a grey image's first layer), which kernel sets
// with plane_conv run 16 pixels a vector: LeNet-5's first layer, and random
// kernels, strides, dilations, padding and 1-8 channels (some too wide for
// the windows, or shifting left: the GEMM then), extreme inputs and weights
// now and then; on inputs of exactly their size.
TEST_CASE(test_one_channel_int8_convolutions_match_the_reference) {
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    std::mt19937 rng(31);
    int planes = 0, trials = 0;
    for (int trial = 0; trial < 400; ++trial, ++trials) {
      RandomOp r = one_channel_conv(rng, 7, 3, 2, 40, trial == 0);
      const pcvm::Op& op = r.op;
      if (trial % 10 == 9)  // now and then a left shift: the GEMM then
        r.shift[0] = pick(rng, 1, 3);
      if (trial % 4 == 3) {  // the largest sums either way
        const int8_t in = trial % 8 == 3 ? 127 : -128, w = trial % 16 < 8 ? 127 : -127;
        std::fill(r.x.begin(), r.x.end(), in);
        std::fill(r.w.begin(), r.w.end(), w);
      }
      const std::vector<int8_t> want = run(r, nullptr), got = run(r, isa);
      planes += pyconv::pack_int8(*isa, op).plane.groups > 0;
      if (got != want) {
        CHECK(got == want);
        std::printf("  %s, trial %d (%dx%d -> %dx%dx%d, k %dx%d, s %dx%d, d %dx%d, pad %d %d) differs\n",
                    name, trial, op.in_h, op.in_w, op.out_h, op.out_w, op.out_c, op.kh, op.kw, op.sh,
                    op.sw, op.dh, op.dw, op.pad_top, op.pad_left);
        return;
      }
    }
    std::printf("  %s: %d one-channel convolutions give the reference's bytes, %d of them 16 pixels a vector\n",
                name, trials, planes);
    if (isa->plane_conv) CHECK(planes > trials / 2);
  }
}

// A pooling of `type` over a convolution's output: k x k windows, stride
// s, padding pad (the out sizes from them).
pcvm::Op pool_after(const pcvm::Op& conv, uint8_t type, int32_t k, int32_t s, int32_t pad) {
  pcvm::Op pool{};
  pool.type = type;
  pool.in_h = conv.out_h, pool.in_w = conv.out_w, pool.in_c = pool.out_c = conv.out_c;
  pool.dh = pool.dw = pool.groups = 1;
  pool.kh = pool.kw = k, pool.sh = pool.sw = s, pool.pad_top = pool.pad_left = pad;
  pool.out_h = (pool.in_h + 2 * pad - k) / s + 1, pool.out_w = (pool.in_w + 2 * pad - k) / s + 1;
  pool.in_zp = pool.out_zp = conv.out_zp, pool.act_min = -128, pool.act_max = 127;
  return pool;
}

// The convolution r and `pool` after it through pcvm::run_ops, with isa's
// kernels and with the reference's: whether they give the same bytes.
bool conv_and_pool_match(const pyconv::kernels::Int8Isa* isa, const RandomOp& r, const pcvm::Op& pool) {
  pyconv::PackedInt8 packed = pyconv::pack_int8(*isa, r.op);
  const pcvm::Op ops_ref[2] = {r.op, pool};
  pcvm::Op ops_isa[2] = {r.op, pool};
  ops_isa[0].packed = &packed;
  const size_t out = static_cast<size_t>(pool.out_h) * pool.out_w * pool.out_c;
  std::vector<int8_t> want(out), got(out);
  std::vector<unsigned char> arena(pcvm::arena_bytes({ops_ref, 2}));
  CHECK(pcvm::run_ops({ops_ref, 2}, 0, 2, r.x.data(), want.data(), arena.data(), arena.size()) == pcvm::kOk);
  CHECK(pcvm::run_ops({ops_isa, 2}, 0, 2, r.x.data(), got.data(), arena.data(), arena.size(),
                      pyconv::int8_kernels(isa)) == pcvm::kOk);
  return got == want;
}

// A one-channel convolution followed by an average pooling, through
// pcvm::run_ops: kernel sets that take the pair in one pass (qconv_pool,
// where the pooling's 2x2 windows tile the convolution's output) against
// the reference ops one by one; poolings that do not tile it (3x3, stride 1,
// padding) run apart.
TEST_CASE(test_one_channel_convolution_and_its_pooling_match_the_reference) {
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    std::mt19937 rng(41);
    int fused = 0, trials = 0;
    for (int trial = 0; trial < 300; ++trial) {
      RandomOp r = one_channel_conv(rng, 5, 2, 1, 36);
      const pcvm::Op& op = r.op;
      if (op.out_h < 2 || op.out_w < 2) continue;
      // 2x2 tiles, or 3x3 windows at stride 1 (not tiles: apart), padded now and then.
      const bool tiles = trial % 5 != 4;
      const pcvm::Op pool = pool_after(op, pcvm::kQAvgPool2D, tiles ? 2 : 3, tiles ? 2 : 1, trial % 7 == 6);
      if (pool.out_h < 1 || pool.out_w < 1) continue;
      ++trials;
      fused += pyconv::pack_int8(*isa, op).plane.groups > 0 && pcvm::tiles_2x2(pool);
      if (!conv_and_pool_match(isa, r, pool)) {
        CHECK(false);
        std::printf("  %s, trial %d (%dx%d -> %dx%dx%d, k %dx%d, s %d, pad %d %d; pool %dx%d s %d pad %d) differs\n",
                    name, trial, op.in_h, op.in_w, op.out_h, op.out_w, op.out_c, op.kh, op.kw, op.sh,
                    op.pad_top, op.pad_left, pool.kh, pool.kw, pool.sh, pool.pad_top);
        return;
      }
    }
    std::printf("  %s: %d one-channel convolutions and their poolings give the reference's bytes, %d in one pass\n",
                name, trials, fused);
    if (isa->plane_conv) CHECK(fused > trials / 3);
  }
}

// Random convolutions followed by max or average pooling, through
// pcvm::run_ops: kernel sets whose GEMM takes pool_2x2 run a 2x2 pooling
// that tiles the convolution's output with it (max: the maximum of each
// block's sums requantized, as requantization never decreases; average:
// the rounded mean of the block's four requantized outputs); every other
// pair runs apart. Against the reference ops one by one.
TEST_CASE(test_convolution_and_its_pooling_match_the_reference) {
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    std::mt19937 rng(53);
    int fused = 0, fused_average = 0, trials = 0;
    for (int trial = 0; trial < 300; ++trial) {
      RandomOp r = random_conv(rng, trial);
      pcvm::Op& op = r.op;
      if (trial % 4 != 0 && (op.groups != 1 || op.dw != 1)) {
        // Mostly what the GEMM reads in segments: one group, columns undilated.
        op.groups = 1, op.dw = 1;
        op.in_c = pick(rng, 1, 19), op.out_c = pick(rng, 1, 40);
        op.in_w = std::max(op.in_w, op.kw);
        op.out_w = (op.in_w + 2 * op.pad_left - (op.kw - 1) - 1) / op.sw + 1;
        r.bias.clear(), r.mult.clear(), r.shift.clear();
        fill_common(rng, r, int64_t{op.kh} * op.kw * op.in_c * op.out_c, int64_t{op.in_h} * op.in_w * op.in_c);
      }
      if (trial % 5 != 4)  // mostly right shifts: the vector path
        for (int32_t& v : r.shift) v = std::min(v, 0);
      if (op.out_h < 2 || op.out_w < 2) continue;
      // 2x2 windows, max or average, at stride 2 or 1 (overlapping: apart).
      const pcvm::Op pool = pool_after(op, trial % 2 ? pcvm::kQAvgPool2D : pcvm::kQMaxPool2D, 2,
                                       trial % 7 == 6 ? 1 : 2, 0);
      ++trials;
      bool lanes = true;
      for (int32_t c = 0; c < op.out_c; ++c) lanes = lanes && pcvm::fits_lanes(r.mult[c], r.shift[c]);
      const bool in_gemm = isa->gemm_pool_2x2 && pyconv::pack_int8(*isa, op).seg && pcvm::tiles_2x2(pool) && lanes;
      fused += in_gemm;
      fused_average += in_gemm && pool.type == pcvm::kQAvgPool2D;
      if (!conv_and_pool_match(isa, r, pool)) {
        CHECK(false);
        std::printf("  %s, trial %d (%dx%dx%d -> %dx%dx%d, k %dx%d, s %dx%d, d %dx%d, g %d; pool %s s %d) differs\n",
                    name, trial, op.in_h, op.in_w, op.in_c, op.out_h, op.out_w, op.out_c, op.kh, op.kw, op.sh,
                    op.sw, op.dh, op.dw, op.groups, pool.type == pcvm::kQMaxPool2D ? "max" : "average", pool.sh);
        return;
      }
    }
    std::printf("  %s: %d convolutions and their poolings give the reference's bytes, %d pooled in the GEMM "
                "(%d average)\n", name, trials, fused, fused_average);
    if (isa->gemm_pool_2x2) CHECK(fused > trials / 4 && fused_average > trials / 8);
  }
}

// A kernel set's GEMM called directly on rows in buffers of exactly the
// size its contract allows (under AddressSanitizer in CI, a read past one
// fails): M rows, or M + kInt8TailRows where the caller says the rows past
// M are readable (their bytes random), for 1-3 repeats of the product on
// consecutive rows. The inputs as the kernel set reads them
// (Int8Isa::input_offset); outputs against the reference dense op row by
// row, and nothing written past the last row.
TEST_CASE(test_int8_gemm_reads_only_the_rows_its_contract_allows) {
  int compared = 0;
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    std::mt19937 rng(17);
    for (int trial = 0; trial < 60; ++trial) {
      RandomOp r = random_dense(rng);
      pcvm::Op& op = r.op;
      const pyconv::PackedInt8 p = pyconv::pack_int8(*isa, op);
      const int64_t M = pick(rng, 1, 30), kp = p.padded_depth, repeats = pick(rng, 1, 3);
      const int64_t rows = M * repeats;
      const bool tail = trial % 2 == 0;
      const int8_t flip = static_cast<int8_t>(isa->input_offset ? 0x80 : 0);
      std::vector<int8_t> x(static_cast<size_t>(rows * op.in_c));
      for (int8_t& v : x) v = static_cast<int8_t>(pick(rng, -128, 127));
      std::vector<int8_t> a(static_cast<size_t>((rows + (tail ? pyconv::kernels::kInt8TailRows : 0)) * kp));
      for (int8_t& v : a) v = static_cast<int8_t>(pick(rng, -128, 127));
      for (int64_t m = 0; m < rows; ++m)
        for (int64_t k = 0; k < kp; ++k)
          a[m * kp + k] = k < op.in_c ? static_cast<int8_t>(x[m * op.in_c + k] ^ flip) : 0;
      pyconv::kernels::Int8Gemm g{};
      g.a = a.data(), g.lda = kp, g.M = M, g.seg = kp, g.seg_stride = 0;
      g.w = p.group(0), g.kp = kp, g.n = op.out_c;
      g.bias = p.bias.data(), g.multiplier = op.multiplier, g.shift = op.shift;
      g.out_zp = op.out_zp, g.act_min = op.act_min, g.act_max = op.act_max;
      std::vector<int8_t> got(static_cast<size_t>(rows * op.out_c)), want(got.size());
      g.y = got.data(), g.ldy = op.out_c, g.tail_readable = tail;
      g.repeats = repeats, g.a_step = M * kp, g.y_step = M * op.out_c;
      isa->gemm(g);
      for (int64_t m = 0; m < rows; ++m) pcvm::qdense_ref(op, x.data() + m * op.in_c, want.data() + m * op.out_c);
      CHECK(got == want);
      if (got != want) {
        std::printf("  %s, trial %d (M %lld, depth %d, %d channels, tail %d) differs\n", name, trial,
                    static_cast<long long>(M), op.in_c, op.out_c, tail);
        return;
      }
      ++compared;
    }
  }
  std::printf("  %d products of 1-30 rows, 1-3 times, give the reference's bytes\n", compared);
}

// Quantization, vectorised, against pcvm::quantize_value: values at and
// next to every rounding tie of a few scales, the clamps, zeros, infinities,
// NaN, denormals and random floats of every magnitude.
TEST_CASE(test_every_int8_quantize_matches_the_reference) {
  std::mt19937 rng(11);
  std::vector<float> x;
  for (float scale : {1.f, 0.0039215689f, 0.1f, 3.7e-3f, 2.5f})
    for (int k = -300; k <= 300; ++k) {
      const float tie = (static_cast<float>(k) + 0.5f) * scale;
      x.insert(x.end(), {tie, std::nextafter(tie, -1e30f), std::nextafter(tie, 1e30f), k * scale});
    }
  const float inf = std::numeric_limits<float>::infinity();
  x.insert(x.end(), {0.f, -0.f, inf, -inf, std::numeric_limits<float>::quiet_NaN(), 1e-45f, -1e-45f,
                     1e-38f, 3e38f, -3e38f, 8388608.5f, 16777216.f});
  for (int i = 0; i < 20000; ++i) {
    uint32_t bits = static_cast<uint32_t>(rng());
    float v;
    std::memcpy(&v, &bits, 4);
    x.push_back(v);
  }
  const int n = static_cast<int>(x.size());
  int sets = 0;
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    ++sets;
    for (float scale : {1.f, 0.0039215689f, 0.1f, 3.7e-3f, 2.5f, 1e-30f, 1e30f})
      for (int32_t zp : {-128, -3, 0, 77, 127}) {
        std::vector<int8_t> want(x.size()), got(x.size());
        pcvm::quantize_ref(x.data(), n, scale, zp, want.data());
        isa->quantize(x.data(), n, scale, zp, got.data());
        // And a count that leaves a tail for each vector width (16, 8, 4 lanes).
        std::vector<int8_t> tail(static_cast<size_t>(n - 7));
        isa->quantize(x.data(), n - 7, scale, zp, tail.data());
        if (!std::equal(tail.begin(), tail.end(), want.begin())) {
          std::printf("  %s: %d values (a tail of 9) differ from the reference\n", name, n - 7);
          CHECK(std::equal(tail.begin(), tail.end(), want.begin()));
          return;
        }
        for (int i = 0; i < n; ++i)
          if (got[i] != want[i]) {
            std::printf("  %s: %.9g / %g + %d gave %d, the reference %d\n", name, x[i], scale, zp, got[i],
                        want[i]);
            CHECK(got[i] == want[i]);
            return;
          }
      }
    std::printf("  %s: %d values at 35 scales and zero points give the reference's bytes\n", name, n);
  }
  if (!sets) std::printf("  this CPU runs no int8 kernel set besides the reference: nothing compared\n");
}

// Max and average pooling, compiled for each ISA, against the reference:
// random windows, strides, padding and channel counts (past 16, the chunk).
TEST_CASE(test_every_int8_pooling_matches_the_reference) {
  int sets = 0;
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    ++sets;
    std::mt19937 rng(13);
    int compared = 0;
    for (int trial = 0; trial < 200; ++trial) {
      pcvm::Op op{};
      op.type = trial % 2 ? pcvm::kQMaxPool2D : pcvm::kQAvgPool2D;
      // Every fourth: a large window (up to 64 x 64, the most the vector
      // average takes) over extreme values, so its sums reach their ends.
      const bool large = trial % 4 == 0;
      const int32_t k = large ? 64 : 4;
      op.kh = pick(rng, 1, k), op.kw = pick(rng, 1, k), op.sh = pick(rng, 1, 3), op.sw = pick(rng, 1, 3);
      op.dh = op.dw = op.groups = 1;
      op.in_c = op.out_c = pick(rng, 1, large ? 20 : 150);
      op.in_h = pick(rng, op.kh, op.kh + 11), op.in_w = pick(rng, op.kw, op.kw + 11);
      op.pad_top = pick(rng, 0, op.kh - 1), op.pad_left = pick(rng, 0, op.kw - 1);
      op.out_h = (op.in_h + 2 * op.pad_top - op.kh) / op.sh + 1;
      op.out_w = (op.in_w + 2 * op.pad_left - op.kw) / op.sw + 1;
      op.out_zp = pick(rng, -128, 127);
      std::vector<int8_t> x(static_cast<size_t>(op.in_h) * op.in_w * op.in_c);
      const int32_t lo = large && trial % 8 == 0 ? 126 : -128, hi = large && trial % 8 == 4 ? -127 : 127;
      for (int8_t& v : x) v = static_cast<int8_t>(pick(rng, lo, hi));
      const size_t out = static_cast<size_t>(op.out_h) * op.out_w * op.out_c;
      std::vector<int8_t> want(out), got(out);
      const bool max = op.type == pcvm::kQMaxPool2D;
      (max ? pcvm::qmaxpool_ref : pcvm::qavgpool_ref)(op, x.data(), want.data());
      (max ? isa->maxpool : isa->avgpool)(op, x.data(), got.data());
      CHECK(got == want);
      if (got != want) {
        std::printf("  %s, trial %d: %s pooling differs\n", name, trial, max ? "max" : "average");
        return;
      }
      ++compared;
    }
    std::printf("  %s: %d random poolings give the reference's bytes\n", name, compared);
  }
  if (!sets) std::printf("  this CPU runs no int8 kernel set besides the reference: nothing compared\n");
}

// Average pooling whose windows tile the input (2x2 windows, LeNet-5's, have
// a loop of their own; the others go window by window): every channel count
// from 1 to 20, windows of 2, 4, 8 and 16 values, trailing rows and columns
// left out or not, extreme values, on buffers of exactly the input's size
// (the last window's vector loads must not run past it: AddressSanitizer
// checks).
TEST_CASE(test_int8_average_pooling_that_tiles_matches_the_reference) {
  const int32_t windows[][2] = {{2, 2}, {1, 2}, {2, 1}, {2, 4}, {4, 4}, {2, 8}};
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa) continue;
    std::mt19937 rng(29);
    for (const auto& kw : windows)
      for (int32_t channels = 1; channels <= 20; ++channels)
        for (int32_t extra = 0; extra < 2; ++extra) {
          pcvm::Op op{};
          op.type = pcvm::kQAvgPool2D;
          op.kh = op.sh = kw[0], op.kw = op.sw = kw[1];
          op.dh = op.dw = op.groups = 1;
          op.in_c = op.out_c = channels;
          op.out_h = pick(rng, 1, 7), op.out_w = pick(rng, 1, 7);
          op.in_h = op.out_h * op.kh + extra, op.in_w = op.out_w * op.kw + extra;
          const size_t in = static_cast<size_t>(op.in_h) * op.in_w * op.in_c;
          const size_t out = static_cast<size_t>(op.out_h) * op.out_w * op.out_c;
          auto x = std::make_unique<int8_t[]>(in);  // exactly in bytes
          const int32_t lo = channels % 3 == 0 ? 127 : -128, hi = channels % 3 == 1 ? -128 : 127;
          for (size_t i = 0; i < in; ++i) x[i] = static_cast<int8_t>(pick(rng, std::min(lo, hi), std::max(lo, hi)));
          std::vector<int8_t> want(out), got(out);
          pcvm::qavgpool_ref(op, x.get(), want.data());
          isa->avgpool(op, x.get(), got.data());
          CHECK(got == want);
          if (got != want) {
            std::printf("  %s: %dx%d windows, %d channels differ\n", name, op.kh, op.kw, channels);
            return;
          }
        }
  }
}

// The pooling division by a multiply-high (pcvm_ops.h): exact for every sum
// an int8 window can have, all of them for windows up to 512 values, and
// 20,000 random ones for larger windows (up to 2^16, a 256 x 256 image).
TEST_CASE(test_window_division_is_exact) {
  std::mt19937 rng(5);
  int64_t checked = 0;
  for (uint32_t n = 1; n <= 65536; n = n < 512 ? n + 1 : n * 3 / 2) {
    const pcvm::Divider d = pcvm::divider(static_cast<int32_t>(n));
    const uint32_t top = 128 * n + n / 2;  // the largest |sum| + n / 2 of n int8 values
    auto check_one = [&](uint32_t t) {
      if (pcvm::divide(t, d) != t / n) {
        std::printf("  %u / %u gave %u\n", t, n, pcvm::divide(t, d));
        CHECK(pcvm::divide(t, d) == t / n);
      }
      ++checked;
    };
    if (n <= 512)
      for (uint32_t t = 0; t <= top; ++t) check_one(t);
    else
      for (int i = 0; i < 20000; ++i) check_one(std::uniform_int_distribution<uint32_t>(0, top)(rng));
  }
  std::printf("  %lld divisions checked\n", static_cast<long long>(checked));
}

}  // namespace

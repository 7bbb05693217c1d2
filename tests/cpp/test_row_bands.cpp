// One sample's first layers in bands of rows (quant/row_bands.h) against the
// whole sample: random chains of int8 convolutions and poolings (strides,
// dilation, padding, windows that leave rows over, 2x2 poolings that the
// kernels fuse with the convolution before them), split into 2 to 6 bands,
// run band by band and then the rest of the model, must give the same bytes
// as running the model whole, with the reference kernels and with every int8
// kernel set this CPU has.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <vector>

#include "check.h"
#include "kernels/int8.h"
#include "micro/pcvm.h"
#include "quant/int8_kernels.h"
#include "core/row_bands.h"

namespace {

int32_t pick(std::mt19937& rng, int32_t lo, int32_t hi) {
  return std::uniform_int_distribution<int32_t>(lo, hi)(rng);
}

// A random model: quantize, convolutions and poolings, then a dense layer and
// a dequantization (a model's output is float).
struct RandomModel {
  std::vector<pcvm::Op> ops;
  std::vector<std::vector<int8_t>> w8;
  std::vector<std::vector<int32_t>> i32;  // biases, multipliers, shifts

  const int32_t* ints(std::vector<int32_t> v) {
    i32.push_back(std::move(v));
    return i32.back().data();
  }
  // The channels' requantization and weights of an int8 conv or dense op.
  void fill(std::mt19937& rng, pcvm::Op& op, int64_t weights) {
    w8.emplace_back(static_cast<size_t>(weights));
    for (int8_t& v : w8.back()) v = static_cast<int8_t>(pick(rng, -127, 127));
    op.weight_i8 = w8.back().data();
    std::vector<int32_t> bias, mult, shift;
    for (int32_t f = 0; f < op.out_c; ++f) {
      bias.push_back(pick(rng, -20000, 20000));
      mult.push_back(pick(rng, 1 << 30, INT32_MAX));
      shift.push_back(pick(rng, -12, -4));
    }
    op.bias_i32 = ints(bias), op.multiplier = ints(mult), op.shift = ints(shift);
    op.out_zp = pick(rng, -128, 0);
    op.act_min = pick(rng, 0, 1) ? op.out_zp : -128;  // a fused ReLU every other op
    op.act_max = 127;
  }
};

// An op on (h, w, c) with a window that fits, and its output's shape.
pcvm::Op window_op(std::mt19937& rng, uint8_t type, int32_t h, int32_t w, int32_t c) {
  pcvm::Op op{};
  op.type = type;
  op.in_h = h, op.in_w = w, op.in_c = c;
  const bool conv = type == pcvm::kQConv2D;
  op.groups = 1;
  op.dh = conv ? pick(rng, 1, 2) : 1, op.dw = conv ? pick(rng, 1, 2) : 1;
  op.kh = pick(rng, 1, std::min(5, (h - 1) / op.dh + 1));
  op.kw = pick(rng, 1, std::min(5, (w - 1) / op.dw + 1));
  op.sh = pick(rng, 1, 3), op.sw = pick(rng, 1, 3);
  op.pad_top = pick(rng, 0, op.kh - 1) * pick(rng, 0, 1), op.pad_left = pick(rng, 0, op.kw - 1) * pick(rng, 0, 1);
  if (!conv && pick(rng, 0, 2) == 0) op.kh = op.kw = op.sh = op.sw = 2, op.pad_top = op.pad_left = 0;  // tiles 2x2
  op.out_h = (h + 2 * op.pad_top - op.dh * (op.kh - 1) - 1) / op.sh + 1;
  op.out_w = (w + 2 * op.pad_left - op.dw * (op.kw - 1) - 1) / op.sw + 1;
  op.out_c = conv ? pick(rng, 1, 20) : c;
  if (conv && pick(rng, 0, 3) == 0 && c == 1) op.out_c = pick(rng, 1, 8);  // the one-channel kernels
  op.in_zp = pick(rng, -128, 0);
  op.out_zp = op.in_zp;  // poolings keep the input's; convolutions set theirs in fill
  return op;
}

RandomModel random_model(std::mt19937& rng) {
  RandomModel m;
  int32_t h = pick(rng, 6, 40), w = pick(rng, 3, 30), c = pick(rng, 0, 2) ? 1 : pick(rng, 2, 5);
  pcvm::Op q{};
  q.type = pcvm::kQuantize;
  q.in_h = q.out_h = h, q.in_w = q.out_w = w, q.in_c = q.out_c = c;
  q.scale = 0.05f, q.in_zp = pick(rng, -128, 0);
  m.ops.push_back(q);
  int32_t zp = q.in_zp;
  const int layers = pick(rng, 1, 4);
  for (int i = 0; i < layers && h > 1; ++i) {
    const uint8_t type = i == 0 || pick(rng, 0, 1) ? pcvm::kQConv2D : pick(rng, 0, 1) ? pcvm::kQMaxPool2D
                                                                                       : pcvm::kQAvgPool2D;
    pcvm::Op op = window_op(rng, type, h, w, c);
    op.in_zp = zp;
    if (type == pcvm::kQConv2D) {
      m.fill(rng, op, int64_t{op.kh} * op.kw * c * op.out_c);
    } else {
      op.out_zp = zp;
      op.act_min = -128, op.act_max = 127;
    }
    m.ops.push_back(op);
    h = op.out_h, w = op.out_w, c = op.out_c, zp = op.out_zp;
    // Now and then a 2x2 pooling right after a convolution (the fused pair).
    if (type == pcvm::kQConv2D && h >= 2 && w >= 2 && pick(rng, 0, 2) == 0) {
      pcvm::Op p{};
      p.type = pick(rng, 0, 1) ? pcvm::kQMaxPool2D : pcvm::kQAvgPool2D;
      p.in_h = h, p.in_w = w, p.in_c = p.out_c = c;
      p.kh = p.kw = p.sh = p.sw = 2, p.dh = p.dw = 1;
      p.out_h = h / 2, p.out_w = w / 2;
      p.in_zp = p.out_zp = zp, p.act_min = -128, p.act_max = 127;
      m.ops.push_back(p);
      h = p.out_h, w = p.out_w;
    }
  }
  pcvm::Op d{};
  d.type = pcvm::kQDense;
  d.in_h = h, d.in_w = w, d.in_c = c, d.out_h = d.out_w = 1, d.out_c = pick(rng, 1, 10), d.groups = 1;
  d.in_zp = zp;
  m.fill(rng, d, int64_t{h} * w * c * d.out_c);
  m.ops.push_back(d);
  pcvm::Op dq{};
  dq.type = pcvm::kDequantize;
  dq.in_h = dq.out_h = dq.in_w = dq.out_w = 1, dq.in_c = dq.out_c = d.out_c;
  dq.scale = 0.1f, dq.in_zp = d.out_zp;
  m.ops.push_back(dq);
  return m;
}

std::vector<float> whole(const pcvm::Model& m, const std::vector<float>& x, const pcvm::Kernels& k) {
  std::vector<float> y(static_cast<size_t>(pcvm::output_size(m)));
  std::vector<unsigned char> arena(pcvm::arena_bytes(m));
  CHECK(pcvm::run(m, x.data(), y.data(), arena.data(), arena.size(), k) == pcvm::kOk);
  return y;
}

std::vector<float> in_bands(const pcvm::Model& m, const pyconv::RowBands& b, const std::vector<float>& x,
                            const pcvm::Kernels& k) {
  std::vector<int8_t> rows(static_cast<size_t>(b.output_bytes), 0);
  int64_t next = 0;  // the bands cover the rows in order, each once
  for (const pyconv::RowBand& band : b.bands) {
    CHECK(band.output_offset == next);
    const pcvm::Op& last = band.ops.back();
    next += int64_t{last.out_h} * last.out_w * last.out_c;
    std::vector<unsigned char> arena(band.arena);
    CHECK(pcvm::run_ops(pcvm::Model{band.ops.data(), b.end}, 0, b.end, x.data() + band.input_offset,
                        rows.data() + band.output_offset, arena.data(), arena.size(), k) == pcvm::kOk);
  }
  CHECK(next == b.output_bytes);
  std::vector<float> y(static_cast<size_t>(pcvm::output_size(m)));
  std::vector<unsigned char> arena(pcvm::arena_bytes(m));
  CHECK(pcvm::run_ops(m, b.end, m.op_count, rows.data(), y.data(), arena.data(), arena.size(), k) == pcvm::kOk);
  return y;
}

const char* const kIsaNames[] = {"ref", "avx512_vnni_vbmi", "avx512_vnni", "avx2", "neon_dotprod", "neon"};

TEST_CASE(test_bands_of_rows_give_the_whole_samples_bytes) {
  for (const char* name : kIsaNames) {
    const pyconv::kernels::Int8Isa* isa = pyconv::kernels::int8_isa(name);
    if (!isa && std::string(name) != "ref") continue;
    std::mt19937 rng(11);
    int models = 0, splits = 0;
    for (int trial = 0; trial < 300; ++trial) {
      RandomModel r = random_model(rng);
      pcvm::Model m{r.ops.data(), static_cast<int32_t>(r.ops.size())};
      int32_t bad = -1;
      if (pcvm::check(m, &bad) != pcvm::kOk) {
        CHECK(pcvm::check(m, &bad) == pcvm::kOk);  // the generator's fault
        std::printf("  trial %d: op %d of the random model is inconsistent\n", trial, bad);
        return;
      }
      std::vector<std::unique_ptr<pyconv::PackedInt8>> packed;
      for (pcvm::Op& op : r.ops)
        if (isa && (op.type == pcvm::kQConv2D || op.type == pcvm::kQDense)) {
          packed.push_back(std::make_unique<pyconv::PackedInt8>(pyconv::pack_int8(*isa, op)));
          op.packed = packed.back().get();
        }
      const pcvm::Kernels k = pyconv::int8_kernels(isa);
      std::vector<float> x(static_cast<size_t>(pcvm::input_size(m)));
      for (float& v : x) v = static_cast<float>(pick(rng, -200, 200)) * 0.05f;
      const std::vector<float> want = whole(m, x, k);
      ++models;
      for (int count = 2; count <= 6; ++count) {
        const pyconv::RowBands b = pyconv::split_rows(m, count);
        if (!b.end) continue;
        CHECK(b.end >= 2 && b.end <= pyconv::banded_ops(m));
        CHECK(static_cast<int>(b.bands.size()) >= 2 && static_cast<int>(b.bands.size()) <= count);
        ++splits;
        if (in_bands(m, b, x, k) != want) {
          CHECK(false);
          const pcvm::Op& last = r.ops[static_cast<size_t>(b.end - 1)];
          std::printf("  %s, trial %d, %d bands: the output differs (%d ops banded, the last %dx%dx%d)\n", name,
                      trial, count, b.end, last.out_h, last.out_w, last.out_c);
          return;
        }
      }
    }
    std::printf("  %s: %d random models split %d ways give the whole sample's bytes\n", name, models, splits);
  }
}

// The split balances the bands' work: LeNet-5's first four layers (28x28,
// 5x5 same with 6 filters, 2x2 average, 5x5 valid with 16, 2x2 average)
// end their bands at the second convolution, 5 of its 10 rows each, rather
// than at the pooling after it (5 rows: 3 and 2); each band reads rows of
// the layers below that the other reads too.
TEST_CASE(test_lenet5_first_layers_split_in_two_bands_that_overlap) {
  RandomModel r;
  std::mt19937 rng(3);
  pcvm::Op q{};
  q.type = pcvm::kQuantize;
  q.in_h = q.out_h = q.in_w = q.out_w = 28, q.in_c = q.out_c = 1, q.scale = 0.01f, q.in_zp = -128;
  r.ops.push_back(q);
  auto conv = [&](int32_t h, int32_t c, int32_t f, int32_t pad) {
    pcvm::Op op{};
    op.type = pcvm::kQConv2D;
    op.in_h = op.in_w = h, op.in_c = c, op.out_c = f, op.kh = op.kw = 5, op.sh = op.sw = op.dh = op.dw = 1;
    op.groups = 1, op.pad_top = op.pad_left = pad, op.out_h = op.out_w = h + 2 * pad - 4;
    r.fill(rng, op, 25 * c * f);
    r.ops.push_back(op);
  };
  auto pool = [&]() {
    const pcvm::Op& in = r.ops.back();
    pcvm::Op p{};
    p.type = pcvm::kQAvgPool2D;
    p.in_h = in.out_h, p.in_w = in.out_w, p.in_c = p.out_c = in.out_c;
    p.kh = p.kw = p.sh = p.sw = 2, p.dh = p.dw = 1, p.out_h = p.out_w = in.out_h / 2;
    p.in_zp = p.out_zp = in.out_zp, p.act_min = -128, p.act_max = 127;
    r.ops.push_back(p);
  };
  conv(28, 1, 6, 2);
  pool();
  conv(14, 6, 16, 0);
  pool();
  const pcvm::Model m{r.ops.data(), static_cast<int32_t>(r.ops.size())};
  CHECK(pyconv::banded_ops(m) == 5);
  const pyconv::RowBands b = pyconv::split_rows(m, 2);
  CHECK(b.end == 4 && b.bands.size() == 2 && b.output_bytes == 10 * 10 * 16);
  if (b.bands.size() != 2) return;
  const pyconv::RowBand &top = b.bands[0], &bottom = b.bands[1];
  // The second convolution's rows 0-4 and 5-9 read the pooled rows 0-8 and
  // 5-13, made from the first convolution's rows 0-17 and 10-27: the top
  // band's from the image's rows 0-19 with 2 rows of padding above, the
  // bottom one's from rows 8-27 (its 2 rows of padding below are implied).
  CHECK(top.ops[3].out_h == 5 && bottom.ops[3].out_h == 5);
  CHECK(top.ops[2].out_h == 9 && bottom.ops[2].out_h == 9);
  CHECK(top.ops[1].out_h == 18 && bottom.ops[1].out_h == 18);
  CHECK(top.ops[1].pad_top == 2 && bottom.ops[1].pad_top == 0);
  CHECK(top.ops[0].in_h == 20 && bottom.ops[0].in_h == 20);
  CHECK(top.input_offset == 0 && bottom.input_offset == 8 * 28);
  CHECK(top.output_offset == 0 && bottom.output_offset == 5 * 10 * 16);
  CHECK(top.work + bottom.work > pyconv::banded_work(m));  // the overlap, twice
  CHECK(std::max(top.work, bottom.work) < pyconv::banded_work(m) * 3 / 5);
  CHECK(pyconv::split_rows(m, 1).end == 0);  // one band: no split
}

}  // namespace

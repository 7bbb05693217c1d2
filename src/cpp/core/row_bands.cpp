#include "core/row_bands.h"

#include <algorithm>

namespace pyconv {

namespace {

bool is_conv(uint8_t t) { return t == pcvm::kQConv2D || t == pcvm::kConv2D; }
bool is_window_op(uint8_t t) {
  return is_conv(t) || t == pcvm::kQMaxPool2D || t == pcvm::kQAvgPool2D || t == pcvm::kMaxPool2D ||
         t == pcvm::kAvgPool2D;
}
// (An activation runs pixel by pixel: a softmax across a pixel's channels.)
bool keeps_rows(uint8_t t) {
  return is_window_op(t) || t == pcvm::kQuantize || t == pcvm::kQLookup || t == pcvm::kActivation;
}
// Bytes of an element of the op's output.
int64_t output_element_bytes(uint8_t t) {
  const bool int8 = t == pcvm::kQuantize || t == pcvm::kQConv2D || t == pcvm::kQMaxPool2D ||
                    t == pcvm::kQAvgPool2D || t == pcvm::kQLookup;
  return int8 ? 1 : 4;
}

// op cropped to its output rows [o0, o1); [*i0, *i1): the input rows they read.
pcvm::Op crop(const pcvm::Op& op, int64_t o0, int64_t o1, int64_t* i0, int64_t* i1) {
  pcvm::Op c = op;
  c.out_h = static_cast<int32_t>(o1 - o0);
  if (!is_window_op(op.type)) {  // element by element
    *i0 = o0, *i1 = o1;
  } else {
    // Input rows of the first window (from the padded top) to past the last.
    const int64_t start = o0 * op.sh - op.pad_top;
    const int64_t stop = (o1 - 1) * op.sh - op.pad_top + int64_t{op.kh - 1} * op.dh + 1;
    *i0 = std::max<int64_t>(0, start), *i1 = std::min<int64_t>(op.in_h, stop);
    c.pad_top = static_cast<int32_t>(*i0 - start);  // the padding inside the band: at the top only
  }
  c.in_h = static_cast<int32_t>(*i1 - *i0);
  return c;
}

// About one multiply-add's time per unit: a window op's products, or four
// a value moved by the other ops.
int64_t work_of(const pcvm::Op& op) {
  const int64_t out = int64_t{op.out_h} * op.out_w * op.out_c;
  if (is_conv(op.type)) return out * op.kh * op.kw * (op.in_c / op.groups);
  if (is_window_op(op.type)) return out * op.kh * op.kw;
  return 4 * out;
}

// Ops [0, end) cropped to rows [r0, r1) of op end - 1 (into ops, when given);
// their work, or -1 where a crop reads no input row (windows of padding
// alone: explicit padding as large as the window). *first: the model input
// row the band starts at.
int64_t band_of(const pcvm::Model& m, int32_t end, int64_t r0, int64_t r1, pcvm::Op* ops, int64_t* first) {
  int64_t work = 0;
  for (int32_t k = end - 1; k >= 0; --k) {
    int64_t i0, i1;
    const pcvm::Op c = crop(m.ops[k], r0, r1, &i0, &i1);
    if (i1 <= i0) return -1;
    work += work_of(c);
    if (ops) ops[k] = c;
    r0 = i0, r1 = i1;
  }
  if (first) *first = r0;
  return work;
}

// The fewest bands with at most `cap` work each, greedily from the top; the
// rows they start at (and rows at the end) into starts, where given.
int bands_under(const pcvm::Model& m, int32_t end, int64_t rows, int64_t cap, std::vector<int64_t>* starts) {
  int bands = 0;
  for (int64_t r0 = 0; r0 < rows; ++bands) {
    if (starts) starts->push_back(r0);
    int64_t r1 = r0 + 1;  // one row even over the cap: the cap is never below a row's work
    while (r1 < rows && band_of(m, end, r0, r1 + 1, nullptr, nullptr) <= cap) ++r1;
    r0 = r1;
  }
  if (starts) starts->push_back(rows);
  return bands;
}

// Ops [0, end) in at most `count` bands, the largest band's work as small as
// it can be.
RowBands split_at(const pcvm::Model& m, int32_t end, int count) {
  RowBands b;
  const pcvm::Op& last = m.ops[end - 1];
  const int64_t rows = last.out_h;
  if (rows < 2) return b;
  // The smallest cap on a band's work that `count` bands meet.
  int64_t lo = 0, hi = band_of(m, end, 0, rows, nullptr, nullptr);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t work = band_of(m, end, r, r + 1, nullptr, nullptr);
    if (work < 0) return b;  // row r alone would read no input row: no bands here
    lo = std::max(lo, work);
  }
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (bands_under(m, end, rows, mid, nullptr) <= count)
      hi = mid;
    else
      lo = mid + 1;
  }
  std::vector<int64_t> starts;
  if (bands_under(m, end, rows, lo, &starts) < 2) return b;
  const pcvm::Op& first = m.ops[0];
  const int64_t row_bytes = int64_t{last.out_w} * last.out_c * output_element_bytes(last.type);
  for (size_t i = 0; i + 1 < starts.size(); ++i) {
    RowBand band;
    band.ops.resize(static_cast<size_t>(end));
    int64_t in_row = 0;
    band.work = band_of(m, end, starts[i], starts[i + 1], band.ops.data(), &in_row);
    band.input_offset = in_row * first.in_w * first.in_c;
    band.output_offset = starts[i] * row_bytes;
    band.arena = pcvm::arena_bytes(pcvm::Model{band.ops.data(), end});
    b.bands.push_back(std::move(band));
  }
  b.end = end;
  b.output_bytes = rows * row_bytes;
  return b;
}

}  // namespace

int32_t banded_ops(const pcvm::Model& m) {
  int32_t k = 0;
  bool conv = false;
  for (; k < m.op_count && keeps_rows(m.ops[k].type); ++k) conv = conv || is_conv(m.ops[k].type);
  return conv ? k : 0;
}

int64_t banded_work(const pcvm::Model& m) {
  const int32_t end = banded_ops(m);
  return end ? band_of(m, end, 0, m.ops[end - 1].out_h, nullptr, nullptr) : 0;
}

RowBands split_rows(const pcvm::Model& m, int count) {
  // Where the bands end: the last op that keeps rows, or an earlier one (the
  // ops after it then run whole) where that shortens the longest band more
  // than those ops take. LeNet-5's bands end at its second convolution (10
  // rows: 5 and 5) rather than at the pooling after it (5 rows: 3 and 2).
  RowBands best;
  const int32_t most = count >= 2 ? banded_ops(m) : 0;
  int32_t first_conv = 0;  // the bands hold a convolution: they end after it
  while (first_conv < most && !is_conv(m.ops[first_conv].type)) ++first_conv;
  int64_t best_time = 0, after = 0;  // after: the work of ops [end, most)
  for (int32_t end = most; end > first_conv; after += work_of(m.ops[--end])) {
    RowBands b = split_at(m, end, count);
    if (!b.end) continue;
    int64_t longest = 0;
    for (const RowBand& band : b.bands) longest = std::max(longest, band.work);
    if (!best.end || longest + after < best_time) best = std::move(b), best_time = longest + after;
  }
  return best;
}

const RowBands* RowBandsCache::get(const pcvm::Model& m, int count) const {
  if (count < 2) return nullptr;
  std::lock_guard<std::mutex> lock(mutex_);
  if (static_cast<int>(bands_.size()) <= count) bands_.resize(static_cast<size_t>(count) + 1);
  if (!bands_[count]) bands_[count] = std::make_unique<RowBands>(split_rows(m, count));
  return bands_[count]->end ? bands_[count].get() : nullptr;
}

}  // namespace pyconv

// One sample's first layers split into bands of rows, for threads to run at
// once with nothing exchanged between the layers.
//
// A model's first layers often keep an image's rows: convolutions, poolings,
// element-wise activations (int8 ones, and a quantization, in a quantized
// model). Band b computes rows [r0, r1) of the last of them, and of every
// layer before it the rows those need: its own copy of the layers, cropped
// to those rows (fewer rows, the padding that falls inside them). Rows where
// two bands' windows overlap are computed by both, and each band works in
// memory of its own, so the bands share nothing until their rows of the last
// layer meet in one buffer. Each output is the same sum in the same kernel
// as without bands: the same bits.
//
// Where one layer's output rows are split among threads instead (as every
// layer does on a large batch-1 input), the threads meet after every layer,
// and each reads rows the other core wrote; on a two-core machine at batch
// 1, that hand-over costs about what the second core gains (LeNet-5's
// layers).
//
// The layers are described as pcvm ops (micro/pcvm.h): the quantized model
// runs them as they are, the float graph maps each to its layer
// (Layer::row_op).
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "micro/pcvm.h"

namespace pyconv {

struct RowBand {
  std::vector<pcvm::Op> ops;  // ops [0, RowBands::end) on this band's rows
  int64_t input_offset = 0;   // where its first input row starts: floats into the model's input
  int64_t output_offset = 0;  // where its rows go: bytes into the last op's output
  size_t arena = 0;           // pcvm::arena_bytes of its ops
  int64_t work = 0;           // its multiply-adds, about
};

struct RowBands {
  int32_t end = 0;  // the ops [0, end) split into bands; 0: none
  int64_t output_bytes = 0;  // op end - 1's whole output (int8 or float)
  std::vector<RowBand> bands;
};

// The ops that keep rows at the start of m, up to the first that does not,
// with at least one convolution among them; 0 when there are none.
int32_t banded_ops(const pcvm::Model& m);

// The multiply-adds of ops [0, banded_ops(m)), about (the unit of threads_for).
int64_t banded_work(const pcvm::Model& m);

// Ops [0, end) in at most `count` bands of op end - 1's output rows (fewer
// where it has fewer rows), the largest band's work as small as it can be;
// end is banded_ops(m), or less where the bands' longest work plus that of
// the ops left out (run whole after them) is less. Empty (end 0) where m has
// no such ops, or where count < 2.
RowBands split_rows(const pcvm::Model& m, int count);

// split_rows(m, count) for each count, made at the first call that asks and
// kept (the model's ops must not change); null where there are no bands.
// Thread-safe.
class RowBandsCache {
 public:
  const RowBands* get(const pcvm::Model& m, int count) const;

 private:
  mutable std::mutex mutex_;
  mutable std::vector<std::unique_ptr<RowBands>> bands_;  // [count]
};

}  // namespace pyconv

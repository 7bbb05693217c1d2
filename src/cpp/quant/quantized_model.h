// A quantized model (pyconv.quantize) in the library: the .pcv record of a
// chain of int8 and float layers, checked and turned into the micro
// runtime's ops (micro/pcvm.h), and run on a batch with this CPU's int8
// kernels, samples shared among threads.
//
// The record: model metadata "pyconv.quantized" = 1; one input; nodes in a
// chain (node k reads node k - 1, node 0 the input) whose types are listed in
// quantized_model.cpp, each with its "output_shape" and its op's numbers as
// attributes, and its weights as tensors "quant/<node name>/<what>".
#pragma once
#include <memory>
#include <mutex>
#include <vector>

#include "core/shape.h"
#include "core/team_choice.h"
#include "io/pcv_format.h"
#include "micro/pcvm.h"
#include "quant/int8_kernels.h"
#include "core/row_bands.h"

#ifndef PYCONV_INT8
#define PYCONV_INT8 1  // -DPYCONV_INT8=OFF: a runtime for float models only
#endif

namespace pyconv {

// False in a runtime built with PYCONV_INT8=OFF: quantized model files are
// refused when loaded, so the int8 code is never reached and not linked.
inline constexpr bool kInt8Built = PYCONV_INT8;

class QuantizedModel {
 public:
  // True when the record is a quantized model's (its metadata says so).
  static bool is_quantized(const io::ModelRecord& r);

  // Checks the record; FormatError names the first thing wrong.
  explicit QuantizedModel(io::ModelRecord r);

  const Shape& input_shape() const { return input_shape_; }
  const Shape& output_shape() const { return output_shape_; }
  const io::ModelRecord& record() const { return record_; }
  const pcvm::Model& ops() const { return model_; }

  // y (n samples of output_shape) from x (n samples of input_shape). Safe
  // to call from many threads at once.
  void predict(const float* x, int64_t n, float* y, int threads) const;

  // The int8 kernels the model runs with: chosen (and the weights packed for
  // them) when it is loaded, from the kernel table selected then; "ref" for
  // the micro runtime's reference kernels.
  const char* int8_kernels() const;

 private:
  io::ModelRecord record_;
  std::vector<pcvm::Op> ops_;
  void predict_in_groups(const float* x, int64_t n, float* y, int threads) const;
  void predict_in_bands(const float* x, float* y, const RowBands& b) const;

  std::vector<std::unique_ptr<PackedInt8>> packed_;  // what ops_[k].packed points to
  // The first run of dense ops [dense_first_, dense_end_) (reshapes between
  // them included), which a batch runs for many samples at once; empty
  // (both 0) when the model has none or no packed kernels.
  int32_t dense_first_ = 0, dense_end_ = 0;
  const kernels::Int8Isa* isa_ = nullptr;            // null: the reference kernels
  pcvm::Kernels kernels_{};
  pcvm::Model model_{};
  Shape input_shape_, output_shape_;
  size_t arena_ = 0;  // pcvm::arena_bytes(model_)
  int64_t banded_work_ = 0;  // of one sample's first ops that keep rows (row_bands.h)
  RowBandsCache bands_;  // per band count (threads_for(banded_work_, threads))
  // Batch-1 calls time themselves and keep the faster of all threads and
  // one (core/team_choice.h), one call at a time: a call that finds another
  // in flight takes all threads, untimed.
  mutable std::mutex team_mutex_;
  mutable TeamChoice team_;
};

}  // namespace pyconv

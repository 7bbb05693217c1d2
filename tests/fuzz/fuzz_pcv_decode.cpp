// libFuzzer target for the .pcv loader. decode must either return a valid
// record or throw FormatError: any other exception, crash, sanitizer report,
// leak or huge allocation is a bug. A decoded record must also encode and
// decode again, and building a model from it (load_any_model_memory: layer
// arguments, shapes against each layer's rules, tensors against parameters;
// a quantized model's ops against the micro runtime's checks) must succeed
// or throw FormatError too. A quantized model that loads also predicts a
// sample of zeros, and runs a sample in bands of rows (quant/row_bands.h)
// to the bytes it gives whole.
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "core/error.h"
#include "io/byte_io.h"
#include "io/crc32c.h"
#include "io/model_file.h"
#include "io/pcv_format.h"
#include "io/pcv_layout.h"
#include "micro/pcvm.h"
#include "core/row_bands.h"

using namespace pyconv;
using namespace pyconv::io;

namespace {

// A quantized model the fuzzer can afford to run: at most 2^24 multiply-adds.
bool small_enough(const QuantizedModel& q) {
  double work = 0;
  const pcvm::Model& m = q.ops();
  for (int32_t k = 0; k < m.op_count; ++k) {
    const pcvm::Op& op = m.ops[k];
    work += double(op.out_h) * op.out_w * op.out_c * op.kh * op.kw * (double(op.in_c) / op.groups + 1) +
            double(op.in_h) * op.in_w * op.in_c * (op.out_h == 1 && op.out_w == 1 ? op.out_c : 1);
  }
  return work <= double(1 << 24);
}

// The model's first layers in `count` bands of rows (core/row_bands.h), then
// the rest, with the reference kernels: the whole sample's bytes.
void check_bands(const pcvm::Model& m, const std::vector<float>& x, int count) {
  const RowBands b = split_rows(m, count);
  if (!b.end) return;
  std::vector<float> want(static_cast<size_t>(pcvm::output_size(m))), got(want.size());
  std::vector<unsigned char> arena(pcvm::arena_bytes(m));
  if (pcvm::run(m, x.data(), want.data(), arena.data(), arena.size()) != pcvm::kOk) __builtin_trap();
  std::vector<int8_t> rows(static_cast<size_t>(b.output_bytes));
  for (const RowBand& band : b.bands) {
    std::vector<unsigned char> own(band.arena);
    if (pcvm::run_ops(pcvm::Model{band.ops.data(), b.end}, 0, b.end, x.data() + band.input_offset,
                      rows.data() + band.output_offset, own.data(), own.size()) != pcvm::kOk)
      __builtin_trap();
  }
  if (b.end == m.op_count)  // every op in bands: their rows are the output
    std::memcpy(got.data(), rows.data(), got.size() * sizeof(float));
  else if (pcvm::run_ops(m, b.end, m.op_count, rows.data(), got.data(), arena.data(), arena.size()) != pcvm::kOk)
    __builtin_trap();
  if (std::memcmp(want.data(), got.data(), want.size() * sizeof(float)) != 0) __builtin_trap();
}

void decode_and_reencode(const uint8_t* data, size_t size, std::shared_ptr<const void> owner) {
  ModelRecord m;
  try {
    m = decode(data, size, std::move(owner));
  } catch (const FormatError&) {
    return;
  }
  const std::vector<uint8_t> bytes = encode(m);  // must not throw: the record is valid
  if (encode(decode(bytes.data(), bytes.size(), nullptr)) != bytes) __builtin_trap();
  AnyModel model;
  try {
    model = load_any_model_memory(bytes.data(), bytes.size());
  } catch (const FormatError&) {
    return;
  }
  if (model.quantized && small_enough(*model.quantized)) {
    std::vector<float> x(static_cast<size_t>(shape_numel(model.quantized->input_shape())), 0.f);
    std::vector<float> y(static_cast<size_t>(shape_numel(model.quantized->output_shape())));
    model.quantized->predict(x.data(), 1, y.data(), 1);
    for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>(i % 7) * 0.1f;  // rows that differ
    for (int count = 2; count <= 3; ++count) check_bands(model.quantized->ops(), x, count);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  decode_and_reencode(data, size, nullptr);
  if (size < layout::kMinFileSize) return 0;

  // Random mutations almost never keep the length field and the CRC right,
  // so also decode a copy with both fixed up: that reaches the section,
  // table and graph parsers. The copy is 64-byte aligned and owned, so the
  // zero-copy path runs too.
  constexpr std::align_val_t kAlign{layout::kTensorAlign};
  std::shared_ptr<uint8_t> copy(static_cast<uint8_t*>(::operator new(size, kAlign)),
                                [](uint8_t* p) { ::operator delete(p, kAlign); });
  std::memcpy(copy.get(), data, size);
  store_u64(copy.get() + layout::kFileLengthAt, size);
  const size_t body = size - layout::kChecksumSize;
  store_u32(copy.get() + body, crc32c(copy.get(), body));
  decode_and_reencode(copy.get(), size, copy);
  return 0;
}

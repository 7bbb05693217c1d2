// libFuzzer target for the .pcv loader. decode must either return a valid
// record or throw FormatError: any other exception, crash, sanitizer report,
// leak or huge allocation is a bug. A decoded record must also encode and
// decode again, and building a model from it (load_model_memory: layer
// arguments, shapes against each layer's rules, tensors against parameters)
// must succeed or throw FormatError too.
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>

#include "core/error.h"
#include "io/byte_io.h"
#include "io/crc32c.h"
#include "io/model_file.h"
#include "io/pcv_format.h"
#include "io/pcv_layout.h"

using namespace pyconv;
using namespace pyconv::io;

namespace {

void decode_and_reencode(const uint8_t* data, size_t size, std::shared_ptr<const void> owner) {
  ModelRecord m;
  try {
    m = decode(data, size, std::move(owner));
  } catch (const FormatError&) {
    return;
  }
  const std::vector<uint8_t> bytes = encode(m);  // must not throw: the record is valid
  if (encode(decode(bytes.data(), bytes.size(), nullptr)) != bytes) __builtin_trap();
  try {
    load_model_memory(bytes.data(), bytes.size());
  } catch (const FormatError&) {
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

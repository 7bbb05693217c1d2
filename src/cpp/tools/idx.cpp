#include "idx.h"

#include <cstring>

namespace pcvrun {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 36;

uint64_t read_be(const unsigned char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v = v << 8 | p[i];
  return v;
}

// Size in bytes of one value of an IDX type code, or 0 if unknown.
int item_size(int type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

float decode(int type, const unsigned char* p) {
  const uint64_t u = read_be(p, item_size(type));
  switch (type) {
    case 0x08: return static_cast<float>(u);
    case 0x09: return static_cast<float>(static_cast<int8_t>(u));
    case 0x0B: return static_cast<float>(static_cast<int16_t>(u));
    case 0x0C: return static_cast<float>(static_cast<int32_t>(u));
    case 0x0D: {
      const uint32_t bits = static_cast<uint32_t>(u);
      float f;
      std::memcpy(&f, &bits, 4);
      return f;
    }
    default: {
      double d;
      std::memcpy(&d, &u, 8);
      return static_cast<float>(d);
    }
  }
}

}  // namespace

bool looks_like_idx(const Bytes& b) {
  return b.size() >= 4 && b[0] == 0 && b[1] == 0 && item_size(b[2]) != 0 && b[3] >= 1;
}

Array parse_idx(const Bytes& b, const std::string& name) {
  if (!looks_like_idx(b)) throw InputError(name + ": not an IDX file (bad magic)");
  const int type = b[2], rank = b[3];
  const size_t offset = 4 + 4 * static_cast<size_t>(rank);
  if (b.size() < offset) throw InputError(name + ": truncated IDX header");
  Array a;
  for (int i = 0; i < rank; ++i) a.shape.push_back(static_cast<int64_t>(read_be(&b[4 + 4 * i], 4)));
  const int64_t n = checked_numel(a.shape, kMaxElements, name);
  const size_t item = static_cast<size_t>(item_size(type));
  const size_t data_bytes = static_cast<size_t>(n) * item;
  if (b.size() - offset != data_bytes)
    throw InputError(name + ": IDX data is " + std::to_string(b.size() - offset) +
                     " bytes, expected " + std::to_string(data_bytes) + " for shape " +
                     shape_str(a.shape) + (b.size() - offset < data_bytes ? " (truncated)" : ""));
  a.data.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) a.data[i] = decode(type, &b[offset + i * item]);
  if (type == 0x08) a.max_value = 255;
  return a;
}

}  // namespace pcvrun

#include "npy.h"

#include <cstring>

namespace pcvrun {
namespace {

const char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
constexpr int64_t kMaxElements = int64_t{1} << 36;

bool little_endian_host() {
  const uint16_t one = 1;
  unsigned char first;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// The text after `'key':` in the header dict, with leading spaces skipped.
size_t find_value(const std::string& header, const std::string& key, const std::string& name) {
  const size_t k = header.find("'" + key + "'");
  if (k == std::string::npos) throw InputError(name + ": .npy header has no '" + key + "'");
  size_t p = header.find(':', k);
  if (p == std::string::npos) throw InputError(name + ": .npy header is malformed");
  p = header.find_first_not_of(' ', p + 1);
  if (p == std::string::npos) throw InputError(name + ": .npy header is malformed");
  return p;
}

std::string parse_descr(const std::string& header, const std::string& name) {
  const size_t p = find_value(header, "descr", name);
  const size_t end = header.find('\'', p + 1);
  if (header[p] != '\'' || end == std::string::npos)
    throw InputError(name + ": .npy header has a malformed 'descr'");
  return header.substr(p + 1, end - p - 1);
}

std::vector<int64_t> parse_shape(const std::string& header, const std::string& name) {
  size_t p = find_value(header, "shape", name);
  const size_t end = header.find(')', p);
  if (header[p] != '(' || end == std::string::npos)
    throw InputError(name + ": .npy header has a malformed 'shape'");
  std::vector<int64_t> shape;
  for (++p; p < end;) {
    if (header[p] == ' ' || header[p] == ',') {
      ++p;
      continue;
    }
    int64_t d = 0;
    size_t digits = 0;
    for (; p < end && header[p] >= '0' && header[p] <= '9'; ++p, ++digits) {
      if (d > (kMaxElements - 9) / 10) throw InputError(name + ": .npy shape is too large");
      d = d * 10 + (header[p] - '0');
    }
    if (digits == 0 && header[p] == 'L') {  // Python 2 long suffix after a number
      ++p;
      continue;
    }
    if (digits == 0) throw InputError(name + ": .npy header has a malformed 'shape'");
    shape.push_back(d);
  }
  return shape;
}

}  // namespace

Array parse_npy(const Bytes& b, const std::string& name) {
  if (b.size() < kMagicSize + 4 || std::memcmp(b.data(), kMagic, kMagicSize) != 0)
    throw InputError(name + ": not a .npy file (bad magic)");
  const int major = b[6];
  size_t header_len, offset;
  if (major == 1) {
    header_len = b[8] | size_t{b[9]} << 8;
    offset = 10;
  } else if (major == 2 || major == 3) {
    if (b.size() < 12) throw InputError(name + ": truncated .npy header");
    header_len = b[8] | size_t{b[9]} << 8 | size_t{b[10]} << 16 | size_t{b[11]} << 24;
    offset = 12;
  } else {
    throw InputError(name + ": unsupported .npy version " + std::to_string(major));
  }
  if (header_len > b.size() - offset) throw InputError(name + ": truncated .npy header");
  const std::string header(reinterpret_cast<const char*>(b.data() + offset), header_len);
  offset += header_len;

  const size_t fo = find_value(header, "fortran_order", name);
  if (header.compare(fo, 5, "False") != 0)
    throw InputError(name + ": Fortran-order .npy arrays are not supported; save with "
                            "np.ascontiguousarray");
  const std::string descr = parse_descr(header, name);
  size_t item;
  bool is_float = false, is_signed = false;
  if (descr == "<f4" || (descr == "=f4" && little_endian_host())) {
    item = 4, is_float = true;
  } else if (descr == "|u1" || descr == "<u1" || descr == "u1") {
    item = 1;
  } else if (descr == "|i1" || descr == "<i2" || descr == "<i4" || descr == "<i8") {
    item = static_cast<size_t>(descr[2] - '0'), is_signed = true;  // labels, as np.save writes them
  } else {
    throw InputError(name + ": .npy dtype '" + descr +
                     "' is not supported (float32, uint8 or a little-endian signed integer)");
  }

  Array a;
  a.shape = parse_shape(header, name);
  const int64_t n = checked_numel(a.shape, kMaxElements, name);
  const size_t data_bytes = static_cast<size_t>(n) * item;
  if (b.size() - offset != data_bytes)
    throw InputError(name + ": .npy data is " + std::to_string(b.size() - offset) +
                     " bytes, expected " + std::to_string(data_bytes) + " for shape " +
                     shape_str(a.shape) + (b.size() - offset < data_bytes ? " (truncated)" : ""));
  a.data.resize(static_cast<size_t>(n));
  const unsigned char* p = b.data() + offset;
  if (!is_float && !is_signed) a.max_value = 255;
  const int unused_bits = 64 - 8 * static_cast<int>(item);
  for (int64_t i = 0; i < n; ++i, p += item) {  // little-endian bytes, on any host
    uint64_t u = 0;
    for (size_t k = 0; k < item; ++k) u |= uint64_t{p[k]} << (8 * k);
    if (is_float) {
      const auto bits = static_cast<uint32_t>(u);
      std::memcpy(&a.data[i], &bits, 4);
    } else {  // the sign bit extended from the top of the item
      a.data[i] = is_signed ? static_cast<float>(static_cast<int64_t>(u << unused_bits) >> unused_bits)
                            : static_cast<float>(u);
    }
  }
  return a;
}

Bytes format_npy(const float* data, const std::vector<int64_t>& shape) {
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': " + shape_str(shape) + ", }";
  // Pad with spaces so the data starts 64-byte aligned; the header ends in '\n'.
  const size_t unpadded = kMagicSize + 4 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  Bytes b(kMagic, kMagic + kMagicSize);
  b.push_back(1);
  b.push_back(0);
  b.push_back(static_cast<unsigned char>(header.size() & 0xff));
  b.push_back(static_cast<unsigned char>(header.size() >> 8));
  b.insert(b.end(), header.begin(), header.end());
  const int64_t n = checked_numel(shape, kMaxElements, "output");
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u;
    std::memcpy(&u, &data[i], 4);
    for (int k = 0; k < 4; ++k) b.push_back(static_cast<unsigned char>(u >> (8 * k)));
  }
  return b;
}

}  // namespace pcvrun

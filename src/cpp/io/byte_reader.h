// Reads little-endian values from one section of a model file, refusing to
// read past its end; every failure is a FormatError naming the section.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/shape.h"
#include "io/byte_io.h"
#include "io/pcv_layout.h"

namespace pyconv::io {

class ByteReader {
 public:
  ByteReader(const uint8_t* data, size_t size, std::string section)
      : p_(data), end_(data + size), section_(std::move(section)) {}

  size_t left() const { return static_cast<size_t>(end_ - p_); }

  [[noreturn]] void fail(const std::string& problem) const {
    throw FormatError(cat("model file is corrupt: ", section_, ": ", problem));
  }
  void need(uint64_t n, const std::string& what) const {
    if (n > left()) fail(cat(what, " needs ", n, " bytes but only ", left(), " remain"));
  }

  uint8_t u8(const std::string& what) {
    need(1, what);
    return *p_++;
  }
  uint32_t u32(const std::string& what) {
    need(4, what);
    uint32_t v = load_u32(p_);
    p_ += 4;
    return v;
  }
  uint64_t u64(const std::string& what) {
    need(8, what);
    uint64_t v = load_u64(p_);
    p_ += 8;
    return v;
  }
  int32_t i32(const std::string& what) { return static_cast<int32_t>(u32(what)); }
  int64_t i64(const std::string& what) { return static_cast<int64_t>(u64(what)); }
  double f64(const std::string& what) {
    uint64_t bits = u64(what);
    double v;
    std::memcpy(&v, &bits, 8);
    return v;
  }

  // A u32 count of items that take at least `min_item` bytes each: a count
  // the remaining bytes cannot hold is refused before anything is allocated.
  uint32_t count(const std::string& what, uint64_t min_item) {
    uint32_t n = u32(what);
    if (static_cast<uint64_t>(n) * min_item > left())
      fail(cat(what, " is ", n, ", more than the ", left(), " remaining bytes can hold"));
    return n;
  }

  // A u32 length and that many bytes; the length must be in [min_len, max_len].
  std::string str(const std::string& what, uint32_t min_len, uint32_t max_len) {
    uint32_t n = u32(what + " length");
    if (n < min_len || n > max_len)
      fail(cat(what, " has length ", n, " (allowed: ", min_len, " to ", max_len, ")"));
    need(n, what);
    std::string s(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    return s;
  }

  // A u32 rank (at most 8) and that many i64 dimensions.
  Shape shape(const std::string& what) {
    uint32_t rank = u32(what + " rank");
    if (rank > layout::kMaxRank)
      fail(cat(what, " has rank ", rank, " (at most ", layout::kMaxRank, ")"));
    Shape s(rank);
    for (int64_t& d : s) d = i64(what + " dimension");
    return s;
  }

  // Sections hold exactly what they describe; leftovers mean a wrong size.
  void finish() const {
    if (left()) fail(cat(left(), " unused bytes at its end (its size is wrong)"));
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  std::string section_;
};

}  // namespace pyconv::io

#include "pgm.h"

namespace pcvrun {
namespace {

bool is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

// The next decimal header field at `pos`, skipping whitespace and comments.
int64_t next_field(const Bytes& b, size_t& pos, const std::string& name, const char* what) {
  while (pos < b.size() && (is_space(b[pos]) || b[pos] == '#')) {
    if (b[pos] == '#')
      while (pos < b.size() && b[pos] != '\n' && b[pos] != '\r') ++pos;
    else
      ++pos;
  }
  int64_t v = 0;
  size_t digits = 0;
  for (; pos < b.size() && b[pos] >= '0' && b[pos] <= '9'; ++pos, ++digits) {
    if (v > 1'000'000) throw InputError(name + ": PGM " + what + " is too large");
    v = v * 10 + (b[pos] - '0');
  }
  if (digits == 0) throw InputError(name + ": PGM header has no valid " + what);
  return v;
}

}  // namespace

bool looks_like_pgm(const Bytes& b) { return b.size() >= 2 && b[0] == 'P' && b[1] == '5'; }

Array parse_pgm(const Bytes& b, const std::string& name) {
  if (!looks_like_pgm(b)) throw InputError(name + ": not a binary PGM (P5) file");
  size_t pos = 2;
  const int64_t width = next_field(b, pos, name, "width");
  const int64_t height = next_field(b, pos, name, "height");
  const int64_t maxval = next_field(b, pos, name, "maxval");
  if (width < 1 || height < 1) throw InputError(name + ": PGM image is empty");
  if (maxval < 1 || maxval > 65535) throw InputError(name + ": PGM maxval must be 1..65535");
  if (pos >= b.size() || !is_space(b[pos])) throw InputError(name + ": truncated PGM header");
  ++pos;  // exactly one whitespace byte before the pixels
  const size_t item = maxval > 255 ? 2 : 1;
  const size_t n = static_cast<size_t>(width * height);
  // A file may hold several images; pyconv-run reads the first.
  if (b.size() - pos < n * item)
    throw InputError(name + ": PGM pixel data is truncated (" + std::to_string(b.size() - pos) +
                     " bytes, expected " + std::to_string(n * item) + ")");
  Array a;
  a.shape = {height, width};
  a.data.resize(n);
  const unsigned char* p = b.data() + pos;
  for (size_t i = 0; i < n; ++i) {
    const unsigned v = item == 1 ? p[i] : (unsigned{p[2 * i]} << 8 | p[2 * i + 1]);
    if (v > maxval) throw InputError(name + ": PGM pixel value above maxval");
    a.data[i] = static_cast<float>(v);
  }
  a.max_value = static_cast<float>(maxval);
  return a;
}

}  // namespace pcvrun

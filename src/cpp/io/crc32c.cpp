#include "io/crc32c.h"

#include "io/byte_io.h"

namespace pyconv::io {

namespace {
constexpr uint32_t kPoly = 0x82F63B78;  // Castagnoli polynomial, bit-reversed

// Slicing-by-8: table[k][b] is the CRC contribution of byte b followed by k
// zero bytes, so eight bytes are folded in per step instead of one.
struct Tables {
  uint32_t t[8][256];
  Tables() {
    for (uint32_t b = 0; b < 256; ++b) {
      uint32_t c = b;
      for (int bit = 0; bit < 8; ++bit) c = (c >> 1) ^ ((c & 1) ? kPoly : 0);
      t[0][b] = c;
    }
    for (int k = 1; k < 8; ++k)
      for (int b = 0; b < 256; ++b) t[k][b] = (t[k - 1][b] >> 8) ^ t[0][t[k - 1][b] & 0xFF];
  }
};
}  // namespace

uint32_t crc32c(const uint8_t* p, size_t n) {
  static const Tables tables;
  const auto& t = tables.t;
  uint32_t crc = 0xFFFFFFFF;
  for (; n >= 8; p += 8, n -= 8) {
    uint32_t lo = crc ^ load_u32(p), hi = load_u32(p + 4);
    crc = t[7][lo & 0xFF] ^ t[6][(lo >> 8) & 0xFF] ^ t[5][(lo >> 16) & 0xFF] ^ t[4][lo >> 24] ^
          t[3][hi & 0xFF] ^ t[2][(hi >> 8) & 0xFF] ^ t[1][(hi >> 16) & 0xFF] ^ t[0][hi >> 24];
  }
  for (; n > 0; ++p, --n) crc = t[0][(crc ^ *p) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

}  // namespace pyconv::io

// CRC-32C (Castagnoli), the checksum at the end of a .pcv file.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pyconv::io {

// CRC-32C of n bytes (reflected, initial value and final xor 0xFFFFFFFF;
// crc32c("123456789") == 0xE3069283).
uint32_t crc32c(const uint8_t* data, size_t n);

}  // namespace pyconv::io

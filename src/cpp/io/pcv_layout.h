// On-disk constants of the .pcv format, shared by the reader and the writer.
// docs/pcv-format.md is the full description; keep the two in step.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pyconv::io::layout {

// PNG-style magic: a high byte catches 7-bit transfers, CR LF and LF catch
// line-ending conversion, 0x1A stops `type` on Windows.
constexpr uint8_t kMagic[8] = {0x89, 'P', 'C', 'V', '\r', '\n', 0x1A, '\n'};
constexpr uint32_t kVersion = 1;  // the only version this build reads and writes

// Header fields: byte offsets from the start of the file.
constexpr size_t kVersionAt = 8;       // u32
constexpr size_t kFlagsAt = 12;        // u32, must be 0
constexpr size_t kFileLengthAt = 16;   // u64, total file length including the checksum
constexpr size_t kGraphOffsetAt = 24;  // u64
constexpr size_t kGraphSizeAt = 32;    // u64
constexpr size_t kTableOffsetAt = 40;  // u64
constexpr size_t kTableSizeAt = 48;    // u64
constexpr size_t kDataOffsetAt = 56;   // u64
constexpr size_t kDataSizeAt = 64;     // u64
constexpr size_t kReservedAt = 72;     // u64, must be 0
constexpr size_t kHeaderSize = 80;
constexpr size_t kChecksumSize = 4;  // CRC-32C of everything before it, at the very end
constexpr size_t kMinFileSize = kHeaderSize + kChecksumSize;

constexpr size_t kTensorAlign = 64;  // every tensor's data starts at a multiple of this
constexpr uint32_t kMaxRank = 8;
constexpr uint32_t kMaxNameLength = 4096;     // tensor names and attribute keys
constexpr uint32_t kMaxStringLength = 1 << 20;  // string attribute values

// Attribute value type tags.
enum AttrTag : uint8_t { kBool = 0, kInt = 1, kFloat = 2, kString = 3, kIntList = 4 };

// Tensor element types: float32 for float models; int8 weights and int32
// biases and requantization factors for quantized ones.
enum DType : uint32_t { kFloat32 = 0, kInt8 = 1, kInt32 = 2 };
constexpr uint32_t kDTypeCount = 3;

inline uint64_t dtype_size(DType t) { return t == kInt8 ? 1 : 4; }

}  // namespace pyconv::io::layout

// Whole-file reading (gzip-aware when built with zlib) and atomic writing.
#pragma once
#include <string>

#include "array.h"

namespace pcvrun {

// Reads at most `limit` bytes of the file; InputError if it is larger or
// cannot be read. A gzip file (by its magic bytes) is decompressed when the
// tool was built with zlib, and otherwise reported as unsupported.
Bytes read_file(const std::string& path, size_t limit);
bool have_gzip();

// Writes `bytes` to a temporary file beside `path` and renames it into place,
// so `path` is either the old file or the complete new one. InputError on failure.
void write_file_atomic(const std::string& path, const Bytes& bytes);

}  // namespace pcvrun

// The arrays pyconv-run reads and writes, and the error its readers throw.
// The tool links only the C API, so nothing here uses the core's types.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace pcvrun {

// Bad or unreadable input: the tool prints the message and exits with 2.
struct InputError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Values converted to float32, C order.
struct Array {
  std::vector<int64_t> shape;
  std::vector<float> data;
  // The largest value of the source's integer type (255 for uint8, a PGM's
  // maxval); 0 for float data. --scale divides by it.
  float max_value = 0;
};

using Bytes = std::vector<unsigned char>;

// Product of dims, each >= 0; InputError (naming `what`) if it would exceed
// `limit` elements, so a corrupt header cannot ask for an absurd allocation.
int64_t checked_numel(const std::vector<int64_t>& shape, int64_t limit, const std::string& what);

// "(2, 28, 28)"
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace pcvrun

// tests/data/mnist_cnn_v1.pcv (written by tests/data/make_golden_model.py: a
// CNN trained and saved in Python, with its loss and Adam state) and the
// inputs and Python predictions saved beside it.
#pragma once
#include <cstring>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

namespace pyconv::test {

inline std::string golden_path(const std::string& file) { return std::string(PCV_TEST_DATA) + "/" + file; }

// The float32 data of a little-endian .npy file (version 1) holding `count` values.
inline std::vector<float> read_npy(const std::string& path, size_t count) {
  std::ifstream f(path, std::ios::binary);
  const std::vector<unsigned char> b{std::istreambuf_iterator<char>(f), {}};
  if (b.size() < 10 || std::memcmp(b.data(), "\x93NUMPY\x01", 7) != 0)
    throw std::runtime_error(path + ": not a version-1 .npy file");
  const size_t start = 10 + (b[8] | b[9] << 8);
  const std::string header(b.begin() + 10, b.begin() + static_cast<std::ptrdiff_t>(start));
  if (header.find("'<f4'") == std::string::npos || b.size() != start + 4 * count)
    throw std::runtime_error(path + ": expected " + std::to_string(count) + " float32 values");
  std::vector<float> v(count);
  std::memcpy(v.data(), b.data() + start, 4 * count);
  return v;
}

}  // namespace pyconv::test

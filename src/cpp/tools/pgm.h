// Binary PGM images (P5): "P5 width height maxval" with '#' comments, one
// whitespace byte, then the pixels (1 byte each, 2 big-endian if maxval > 255).
#pragma once
#include <string>

#include "array.h"

namespace pcvrun {

// One image as an array of shape (height, width); max_value is its maxval.
Array parse_pgm(const Bytes& bytes, const std::string& name);
bool looks_like_pgm(const Bytes& bytes);

}  // namespace pcvrun

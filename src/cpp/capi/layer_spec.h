// The one-line descriptions the C API builds models from:
//
//   "Conv2D filters=32 kernel_size=3,3 activation=relu"
//   "adam learning_rate=0.001"
//
// A type, then key=value pairs separated by spaces. Values: true/false, an
// integer, a number, a comma list of integers, or a word (relu, same,
// he_normal). They become the same Attrs a Python config dict becomes, so the
// layers check their own keys and values exactly as they do for Python.
#pragma once
#include <string_view>

#include "graph/attrs.h"

namespace pyconv::capi {

// {"type": Type, key: value, ...}. Throws ValueError whose message starts
// with `what` and the text ("layer 2 \"Dense units=\": ...") on empty text,
// a missing or stray '=', a repeated key, an integer out of range, ...
Attrs parse_spec(std::string_view text, std::string_view what);

}  // namespace pyconv::capi

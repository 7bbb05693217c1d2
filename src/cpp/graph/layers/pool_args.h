// Reading pooling arguments from layer attributes, shared by the pooling
// layers (graph/layers/pooling.cpp) and the graph's pool fusions.
#pragma once
#include <string>

#include "core/error.h"
#include "graph/attrs.h"
#include "ops/pool.h"

namespace pyconv {

inline ops::Pool2DArgs parse_pool_args(const Attrs& a) {
  a.check_known({"pool_size", "strides", "padding"});
  ops::Pool2DArgs p;
  const auto k = a.get_ints("pool_size", 2, {2, 2});
  const auto s = a.get_ints("strides", 2, k);  // Keras: strides default to pool_size
  p.kh = k[0], p.kw = k[1], p.sh = s[0], p.sw = s[1];
  const std::string pad = a.get_string("padding", "valid");
  if (pad == "same")
    p.padding = ops::PadMode::Same;
  else if (pad != "valid")
    throw ValueError(cat(a.who(), ": padding must be 'valid' or 'same', received '", pad, "'"));
  return p;
}

}  // namespace pyconv

// Keras's weight constraints, applied to a weight after every optimizer step:
//   max_norm(max_value=2,axis=0)      norms along `axis` clipped to max_value
//   min_max_norm(min_value=0,max_value=1,rate=1,axis=0)
//                                     norms moved (by rate) into [min, max]
//   unit_norm(axis=0)                 norms scaled to 1
//   non_neg                           negative values set to 0
// `axis` is the axes the norm sums over ("0:1:2" for several; negative
// counts from the end): 0 for a Dense kernel's inputs, 0:1:2 for a
// convolution kernel's window and input channels.
#pragma once
#include <string>
#include <vector>

#include "core/tensor.h"

namespace pyconv {

struct Constraint {
  enum class Kind { None, MaxNorm, MinMaxNorm, UnitNorm, NonNeg };
  Kind kind = Kind::None;
  float min_value = 0.f, max_value = 0.f, rate = 1.f;
  std::vector<int64_t> axes;
};

// The constraint a layer attribute describes ("" for none); ValueError
// naming `who` for a bad one. A runtime-only build, which never trains,
// reads none.
Constraint parse_constraint(const std::string& spec, const std::string& who);
// w = the constraint applied to w (a weight of any shape).
void apply_constraint(const Constraint& c, Tensor& w);

}  // namespace pyconv

// Reading convolution arguments from layer attributes, shared by Conv2D and
// its variants (graph/layers/conv_variants.cpp).
#pragma once
#include <string>
#include <variant>
#include <vector>

#include "core/error.h"
#include "graph/attrs.h"
#include "graph/layer.h"
#include "ops/conv.h"

namespace pyconv {

// "valid", "same", an int, (pad_h, pad_w) or (top, bottom, left, right).
inline ops::Padding2D parse_padding(const Attrs& a) {
  ops::Padding2D p;
  if (!a.has("padding")) return p;
  const AttrValue& v = a.values().at("padding");
  if (std::holds_alternative<std::string>(v)) {
    const std::string s = std::get<std::string>(v);
    if (s == "valid") return p;
    if (s == "same") {
      p.mode = ops::PadMode::Same;
      return p;
    }
    throw ValueError(cat(a.who(), ": padding must be 'valid', 'same' or integers, received '",
                         s, "'"));
  }
  // An int, (pad_h, pad_w) or (top, bottom, left, right).
  std::vector<int64_t> v4;
  if (std::holds_alternative<int64_t>(v)) {
    v4.assign(4, std::get<int64_t>(v));
  } else if (std::holds_alternative<std::vector<int64_t>>(v)) {
    const auto& l = std::get<std::vector<int64_t>>(v);
    if (l.size() == 2) v4 = {l[0], l[0], l[1], l[1]};
    if (l.size() == 4) v4 = l;
  }
  if (v4.size() != 4)
    throw ValueError(cat(a.who(), ": padding must be 'valid', 'same', an integer, "
                                  "(pad_h, pad_w) or (top, bottom, left, right)"));
  p.mode = ops::PadMode::Explicit;
  p.top = v4[0], p.bottom = v4[1], p.left = v4[2], p.right = v4[3];
  return p;
}

// Reads kernel_size, strides and dilation_rate as `rank` values (1 or 2).
inline void read_window(const Attrs& a, size_t rank, ops::Conv2DArgs& args) {
  const auto k = a.get_ints("kernel_size", rank, {});
  if (k.empty()) a.get_int("kernel_size");  // reports the missing argument
  const auto s = a.get_ints("strides", rank, std::vector<int64_t>(rank, 1));
  const auto d = a.get_ints("dilation_rate", rank, std::vector<int64_t>(rank, 1));
  args.kh = rank == 2 ? k[0] : 1, args.kw = k.back();
  args.sh = rank == 2 ? s[0] : 1, args.sw = s.back();
  args.dh = rank == 2 ? d[0] : 1, args.dw = d.back();
}

// Conv1D's and Conv2D's arguments, all but padding (each reads its own):
// checks that no other key is given, then reads filters, the window and groups.
inline void read_conv_args(const Attrs& a, size_t rank, ops::Conv2DArgs& args) {
  a.check_known(with_regularizers({"filters", "kernel_size", "strides", "padding",
                                   "dilation_rate", "groups", "activation", "use_bias",
                                   "kernel_initializer", "bias_initializer"}));
  args.filters = a.get_int("filters");
  read_window(a, rank, args);
  args.groups = a.get_int("groups", 1);
}

}  // namespace pyconv

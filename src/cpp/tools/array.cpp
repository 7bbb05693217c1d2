#include "array.h"

namespace pcvrun {

int64_t checked_numel(const std::vector<int64_t>& shape, int64_t limit, const std::string& what) {
  int64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InputError(what + ": negative dimension in shape " + shape_str(shape));
    if (d != 0 && n > limit / d)
      throw InputError(what + ": shape " + shape_str(shape) + " is too large");
    n *= d;
  }
  return n;
}

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string out = "(";
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? ", " : "") + std::to_string(shape[i]);
  return out + (shape.size() == 1 ? ",)" : ")");
}

}  // namespace pcvrun

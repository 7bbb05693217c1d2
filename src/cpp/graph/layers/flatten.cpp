// Flatten layer: (N, d1, d2, ...) -> (N, d1*d2*...), in channels-last order.
#include "graph/layers/same_bytes.h"

namespace pyconv {

namespace {

class FlattenLayer : public SameBytesLayer {
 public:
  explicit FlattenLayer(const Attrs& a) : SameBytesLayer(a) { a.check_known({}); }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    return {shape_numel(inputs[0], who())};
  }
};

}  // namespace

std::unique_ptr<Layer> make_flatten(const Attrs& attrs) {
  return std::make_unique<FlattenLayer>(attrs);
}

}  // namespace pyconv

// Flatten layer: (N, d1, d2, ...) -> (N, d1*d2*...), in channels-last order.
#include <cstring>

#include "core/training.h"
#include "graph/layer.h"

namespace pyconv {

namespace {

class FlattenLayer : public Layer {
 public:
  explicit FlattenLayer(const Attrs& a) : Layer(a) { a.check_known({}); }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    return {shape_numel(inputs[0], who())};
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    std::memcpy(out.data(), in[0]->data(), sizeof(float) * out.numel());
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    require_training("backward");
    if (din[0]) std::memcpy(din[0]->data(), dout.data(), sizeof(float) * dout.numel());
  }
};

}  // namespace

std::unique_ptr<Layer> make_flatten(const Attrs& attrs) {
  return std::make_unique<FlattenLayer>(attrs);
}

}  // namespace pyconv

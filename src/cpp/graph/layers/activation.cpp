// Activation layer: applies a named activation to its input.
#include <cstring>

#include "core/error.h"
#include "graph/layer.h"

namespace pyconv {

namespace {

class ActivationLayer : public Layer {
 public:
  explicit ActivationLayer(const Attrs& a) : Layer(a) {
    a.check_known({"activation"});
    if (!a.has("activation")) throw ValueError(cat(who(), ": missing required argument 'activation'"));
    activation_ = ops::parse_activation(a.get_string("activation", "linear"), who());
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override { return inputs[0]; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    std::memcpy(out.data(), in[0]->data(), sizeof(float) * out.numel());
    apply_activation(out, ctx);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    if (!din[0]) return;
    activation_backward(out, dout, ctx);
    std::memcpy(din[0]->data(), dout.data(), sizeof(float) * dout.numel());
  }
};

}  // namespace

std::unique_ptr<Layer> make_activation(const Attrs& attrs) {
  return std::make_unique<ActivationLayer>(attrs);
}

}  // namespace pyconv

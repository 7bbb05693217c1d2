// Add layer: the element-wise sum of inputs of one shape (a residual
// connection). Its backward hands dout to every input unchanged.
#include <cstring>

#include "core/error.h"
#include "graph/layer.h"

namespace pyconv {

namespace {

class AddLayer : public Layer {
 public:
  explicit AddLayer(const Attrs& a) : Layer(a) { a.check_known({}); }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    if (inputs.size() < 2)
      throw ShapeError(cat(who(), ": expected at least 2 inputs, received ", inputs.size()));
    for (const Shape& s : inputs)
      if (s != inputs[0])
        throw ShapeError(cat(who(), ": expected inputs of one shape, received ",
                             batch_shape_str(inputs[0]), " and ", batch_shape_str(s)));
    return inputs[0];
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    float* y = out.data();
    const int64_t n = out.numel();
    std::memcpy(y, in[0]->data(), sizeof(float) * n);
    for (size_t k = 1; k < in.size(); ++k) {
      const float* x = in[k]->data();
#pragma omp simd
      for (int64_t i = 0; i < n; ++i) y[i] += x[i];
    }
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    for (Tensor* d : din)
      if (d) std::memcpy(d->data(), dout.data(), sizeof(float) * dout.numel());
  }
};

}  // namespace

std::unique_ptr<Layer> make_add(const Attrs& attrs) { return std::make_unique<AddLayer>(attrs); }

}  // namespace pyconv

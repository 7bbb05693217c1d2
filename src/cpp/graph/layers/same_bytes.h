// Layers whose output holds the input's bytes unchanged (Flatten, Reshape):
// forward copies them; backward writes the input's gradient in place, which
// leaves nothing to copy (or copies, where the plan could not share).
#pragma once
#include "core/threads.h"
#include "core/training.h"
#include "graph/layer.h"

namespace pyconv {

class SameBytesLayer : public Layer {
 public:
  using Layer::Layer;

  // In place, backward copies nothing.
  BackwardReads backward_reads() const override { return {false, false, /*in_place=*/true}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    copy_through(out.data(), in[0]->data(), out.numel(), ctx.threads);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (din[0]) parallel_copy(din[0]->data(), dout.data(), dout.numel(), ctx.threads);
  }
};

}  // namespace pyconv

// MaxPooling2D, AveragePooling2D, MaxUnpooling2D and the global pooling layers.
#include <algorithm>

#include "core/training.h"
#include "core/error.h"
#include "core/threads.h"
#include "graph/layer.h"
#include "graph/layers/pool_args.h"
#include "graph/layers/built.h"
#include "graph/layers/row_op.h"
#include "ops/pool.h"

namespace pyconv {

namespace {

class Pool2DLayer : public Layer {
 public:
  Pool2DLayer(const Attrs& a, bool is_max) : Layer(a), args_(parse_pool_args(a)), max_(is_max) {
    ops::pool2d_geometry({args_.kh, args_.kw, 1}, args_, who());  // checks the arguments
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    geom_ = ops::pool2d_geometry(inputs[0], args_, who());
    return {geom_.OH, geom_.OW, geom_.C};
  }

  std::unique_ptr<LayerState> new_state() const override {
    return max_ ? std::make_unique<ArgmaxState>() : nullptr;
  }

  // Max pooling reads its input only to find the argmax again if it was lost.
  BackwardReads backward_reads() const override { return {max_, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    if (!max_) {
      ops::avgpool2d_forward(geom_, *in[0], out, ctx.threads);
      return;
    }
    // Inference skips the winners' indices; a backward pass after it
    // finds them again (see backward).
    ArgmaxState& s = state_of<ArgmaxState>(ctx);
    s.valid = ctx.training;
    ops::maxpool2d_forward(geom_, *in[0], out, ctx.training ? &s.argmax : nullptr, ctx.threads);
  }

  bool row_op(pcvm::Op* op) const override {
    if (!kRowBandsBuilt) return false;
    const kernels::PoolGeometry& g = geom_;
    return describe_rows(max_ ? pcvm::kMaxPool2D : pcvm::kAvgPool2D,
                         {g.H, g.W, g.C, g.OH, g.OW, g.C, g.KH, g.KW, g.SH, g.SW, 1, 1, g.PT, g.PL},
                         op);
  }

  void forward_rows(const pcvm::Op& band, const float* x, float* y) const override {
    if (!kRowBandsBuilt) return;
    kernels::PoolGeometry g = geom_;
    g.H = band.in_h, g.OH = band.out_h, g.PT = band.pad_top;
    ops::pool2d_forward_sample(g, max_, x, y);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    if (!max_) {
      ops::avgpool2d_backward(geom_, dout, *din[0], ctx.threads);
      return;
    }
    ArgmaxState& s = state_of<ArgmaxState>(ctx);
    if (!s.valid) {
      Tensor again(out.shape());
      ops::maxpool2d_forward(geom_, *in[0], again, &s.argmax, ctx.threads);
      s.valid = true;
    }
    ops::maxpool2d_backward(geom_, dout, s.argmax, *din[0], ctx.threads);
  }

 private:
  struct ArgmaxState : LayerState {
    std::vector<int32_t> argmax;
    bool valid = false;  // argmax belongs to the last forward's input
    size_t bytes() const override { return argmax.capacity() * sizeof(int32_t); }
    void release() override { std::vector<int32_t>().swap(argmax), valid = false; }
  };

  ops::Pool2DArgs args_;
  bool max_;
  kernels::PoolGeometry geom_{};
};

// MaxUnpooling2D (SegNet): puts each pooled value back where its window's
// maximum was. Inputs: [values, source], where source is the tensor the
// MaxPooling2D (same pool_size, strides, padding) pooled; the positions are
// that pool's argmax, found again from source (the first maximum of each
// window, as MaxPooling2D takes it). Output: source's shape, zero elsewhere.
class MaxUnpool2DLayer : public Layer {
 public:
  explicit MaxUnpool2DLayer(const Attrs& a) : Layer(a), args_(parse_pool_args(a)) {}

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    if (inputs.size() != 2)
      throw ShapeError(cat(who(), ": expected [values, indices] (2 inputs: the pooled values "
                                  "and what MaxPooling2D pooled), received ", inputs.size()));
    geom_ = ops::pool2d_geometry(inputs[1], args_, who());
    const Shape pooled{geom_.OH, geom_.OW, geom_.C};
    if (inputs[0] != pooled)
      throw ShapeError(cat(who(), ": the values must have the pooled shape ",
                           batch_shape_str(pooled), ", received ", batch_shape_str(inputs[0])));
    return inputs[1];
  }

  std::unique_ptr<LayerState> new_state() const override { return std::make_unique<State>(); }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    State& s = state_of<State>(ctx);
    s.pooled.resize(in[0]->shape());
    ops::maxpool2d_forward(geom_, *in[1], s.pooled, &s.argmax, ctx.threads);
    ops::maxpool2d_backward(geom_, *in[0], s.argmax, out, ctx.threads);  // the scatter
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    const State& s = state_of<State>(ctx);
    if (din[0]) {  // each value's gradient is the output gradient where it went
      const int64_t per_in = out.numel() / out.dim(0), per_value = in[0]->numel() / out.dim(0);
      float* dv = din[0]->data();
      for (int64_t i = 0; i < in[0]->numel(); ++i)
        dv[i] = dout.data()[(i / per_value) * per_in + s.argmax[i]];
    }
    if (din[1]) din[1]->zero();  // the positions do not move with the source's values
  }

 private:
  struct State : LayerState {
    std::vector<int32_t> argmax;
    Tensor pooled;
    size_t bytes() const override {
      return argmax.capacity() * sizeof(int32_t) + pooled.held_bytes();
    }
    void release() override { std::vector<int32_t>().swap(argmax), pooled = Tensor(); }
  };

  ops::Pool2DArgs args_;
  kernels::PoolGeometry geom_{};
};

// GlobalAveragePooling2D / GlobalMaxPooling2D: (N, H, W, C) -> (N, C), or
// (N, 1, 1, C) with keepdims (a squeeze-and-excitation gate's shape).
class GlobalPool2DLayer : public Layer {
 public:
  GlobalPool2DLayer(const Attrs& a, bool max) : Layer(a), max_(max) {
    a.check_known({"keepdims"});
    keepdims_ = a.get_bool("keepdims", false);
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    if (inputs[0].size() != 3)
      throw ShapeError(cat(who(), ": expected input of shape (N, H, W, C), received ",
                           batch_shape_str(inputs[0])));
    in_ = inputs[0];
    return keepdims_ ? Shape{1, 1, in_[2]} : Shape{in_[2]};
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t N = out.dim(0), P = in_[0] * in_[1], C = in_[2];
    const float inv = 1.f / static_cast<float>(P);
    const float* x = in[0]->data();
    parallel_for(threads_for(N * P * C, ctx.threads), N, [&](int64_t n) {
      float* y = out.data() + n * C;
      const float* xs = x + n * P * C;
      std::copy(xs, xs + C, y);
      for (int64_t p = 1; p < P; ++p)
        for (int64_t c = 0; c < C; ++c)
          y[c] = max_ ? std::max(y[c], xs[p * C + c]) : y[c] + xs[p * C + c];
      if (!max_)
        for (int64_t c = 0; c < C; ++c) y[c] *= inv;
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const int64_t N = dout.dim(0), P = in_[0] * in_[1], C = in_[2];
    const float inv = 1.f / static_cast<float>(P);
    const float* x = in[0]->data();
    float* dx = din[0]->data();
    parallel_for(threads_for(N * P * C, ctx.threads), N, [&](int64_t n) {
      const float* dy = dout.data() + n * C;
      float* d = dx + n * P * C;
      if (!max_) {
        for (int64_t p = 0; p < P; ++p)
          for (int64_t c = 0; c < C; ++c) d[p * C + c] = dy[c] * inv;
        return;
      }
      // The first position holding each channel's maximum takes its gradient.
      std::fill(d, d + P * C, 0.f);
      const float* xs = x + n * P * C;
      const float* top = out.data() + n * C;
      for (int64_t c = 0; c < C; ++c)
        for (int64_t p = 0; p < P; ++p)
          if (xs[p * C + c] == top[c]) {
            d[p * C + c] = dy[c];
            break;
          }
    });
  }

 private:
  bool max_, keepdims_ = false;
  Shape in_;
};

}  // namespace

std::unique_ptr<Layer> make_maxpool2d(const Attrs& a) { return std::make_unique<Pool2DLayer>(a, true); }
std::unique_ptr<Layer> make_avgpool2d(const Attrs& a) { return std::make_unique<Pool2DLayer>(a, false); }
std::unique_ptr<Layer> make_max_unpool2d(const Attrs& a) {
  return std::make_unique<MaxUnpool2DLayer>(a);
}
std::unique_ptr<Layer> make_global_avgpool2d(const Attrs& a) {
  return std::make_unique<GlobalPool2DLayer>(a, false);
}
std::unique_ptr<Layer> make_global_maxpool2d(const Attrs& a) {
  return std::make_unique<GlobalPool2DLayer>(a, true);
}

}  // namespace pyconv

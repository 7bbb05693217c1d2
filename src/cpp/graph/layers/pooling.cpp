// MaxPooling2D, AveragePooling2D and GlobalAveragePooling2D layers.
#include <algorithm>

#include "core/error.h"
#include "core/threads.h"
#include "graph/layer.h"
#include "ops/pool.h"

namespace pyconv {

namespace {

ops::Pool2DArgs parse_pool_args(const Attrs& a) {
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

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
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

class GlobalAvgPool2DLayer : public Layer {
 public:
  explicit GlobalAvgPool2DLayer(const Attrs& a) : Layer(a) { a.check_known({}); }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    if (inputs[0].size() != 3)
      throw ShapeError(cat(who(), ": expected input of shape (N, H, W, C), received ",
                           batch_shape_str(inputs[0])));
    in_ = inputs[0];
    return {in_[2]};
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t N = out.dim(0), P = in_[0] * in_[1], C = in_[2];
    const float inv = 1.f / static_cast<float>(P);
    [[maybe_unused]] const int threads = threads_for(N * P * C, ctx.threads);
    const float* x = in[0]->data();
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t n = 0; n < N; ++n) {
      float* y = out.data() + n * C;
      std::fill(y, y + C, 0.f);
      for (int64_t p = 0; p < P; ++p)
        for (int64_t c = 0; c < C; ++c) y[c] += x[(n * P + p) * C + c];
      for (int64_t c = 0; c < C; ++c) y[c] *= inv;
    }
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    if (!din[0]) return;
    const int64_t N = dout.dim(0), P = in_[0] * in_[1], C = in_[2];
    const float inv = 1.f / static_cast<float>(P);
    [[maybe_unused]] const int threads = threads_for(N * P * C, ctx.threads);
    float* dx = din[0]->data();
#pragma omp parallel for num_threads(threads) if (threads > 1)
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = 0; p < P; ++p)
        for (int64_t c = 0; c < C; ++c) dx[(n * P + p) * C + c] = dout.data()[n * C + c] * inv;
  }

 private:
  Shape in_;
};

}  // namespace

std::unique_ptr<Layer> make_maxpool2d(const Attrs& a) { return std::make_unique<Pool2DLayer>(a, true); }
std::unique_ptr<Layer> make_avgpool2d(const Attrs& a) { return std::make_unique<Pool2DLayer>(a, false); }
std::unique_ptr<Layer> make_global_avgpool2d(const Attrs& a) {
  return std::make_unique<GlobalAvgPool2DLayer>(a);
}

}  // namespace pyconv

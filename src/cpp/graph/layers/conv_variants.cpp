// The convolutions built on Conv2D's machinery (ops/conv.h), with Keras's
// weight layouts:
//   DepthwiseConv2D  a grouped convolution with one group per input channel;
//                    depthwise_kernel (KH, KW, C, depth_multiplier) lies in
//                    memory exactly as the grouped kernel (KH, KW, 1, C * m).
//   SeparableConv2D  that, then a 1x1 convolution (pointwise_kernel).
//   Conv1D           a Conv2D of height 1 over (N, steps, C); "causal"
//                    padding pads only before the first step.
//   Conv2DTranspose  the adjoint of a Conv2D (FCN's learned upsampling): its
//                    forward pass is that convolution's input gradient; its
//                    kernel (KH, KW, filters, C) is the convolution's kernel.
// A fused activation whose derivative needs its input (gelu, swish) runs after
// the convolution, as in Conv2D.
#include <algorithm>
#include <cmath>

#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"
#include "graph/layers/conv_args.h"
#include "ops/conv.h"
#include "ops/reduce.h"

namespace pyconv {

namespace {

struct ConvState : LayerState {
  ops::ConvWorkspace ws, ws2;
  Tensor mid;  // SeparableConv2D: the depthwise output
  size_t bytes() const override { return ws.bytes() + ws2.bytes() + mid.held_bytes(); }
  void release() override { ws = ops::ConvWorkspace(), ws2 = ops::ConvWorkspace(), mid = Tensor(); }
};

// What the convolution layers below share: bias and activation handling.
class ConvBase : public Layer {
 protected:
  explicit ConvBase(const Attrs& a) : Layer(a) {
    use_bias_ = a.get_bool("use_bias", true);
    activation_ = ops::parse_activation(a.get_string("activation", "linear"), who());
  }

  std::unique_ptr<LayerState> new_state() const override { return std::make_unique<ConvState>(); }
  // Separable convolutions keep their middle values in the state.
  BackwardReads backward_reads() const override { return {true, activation_reads_output()}; }

  void add_bias(int64_t n) {
    if (!use_bias_) return;
    Param& bias = add_param("bias", {n});
    initialize(bias.value, attrs_.get_string("bias_initializer", "zeros"), 1, 1, shape_rng_,
               who());
  }
  const Tensor* bias() const { return use_bias_ ? &params_.back().value : nullptr; }
  Tensor* bias_grad() { return use_bias_ ? &params_.back().grad : nullptr; }
  Param& kernel_param(const char* name, const Shape& shape, const char* key, int64_t fan_in,
                      int64_t fan_out) {
    Param& p = add_param(name, shape);
    initialize(p.value, attrs_.get_string(key, "glorot_uniform"), fan_in, fan_out, shape_rng_,
               who());
    return p;
  }
  // The activation the convolution may apply while storing its output.
  ops::Activation fused() const {
    return ops::needs_input(output_activation()) ? ops::Activation::Linear : output_activation();
  }
  void finish(Tensor& out, const RunContext& ctx) const {
    if (fused() != output_activation()) apply_activation(out, ctx);
  }
  static ConvState& conv_state(const RunContext& ctx) { return state_of<ConvState>(ctx); }

  // A depthwise convolution of an (H, W, C) input: one group per channel,
  // `mult` filters each; adds its kernel (KH, KW, C, mult).
  kernels::ConvGeometry add_depthwise_kernel(const Shape& input, ops::Conv2DArgs& args,
                                             int64_t mult) {
    if (input.size() != 3)
      throw ShapeError(cat(who(), ": expected input of shape (N, H, W, C), received ",
                           batch_shape_str(input)));
    const int64_t C = input[2];
    args.groups = C;
    args.filters = C * mult;
    const kernels::ConvGeometry g = ops::conv2d_geometry(input, args, who());
    const int64_t taps = g.KH * g.KW;
    kernel_param("depthwise_kernel", {g.KH, g.KW, C, mult}, "depthwise_initializer", taps * C,
                 taps * mult);
    return g;
  }

  bool use_bias_ = true;
  Rng* shape_rng_ = nullptr;  // the rng of the build in progress
};

// One convolution (geom_) with the first weight as its kernel.
class SingleConv : public ConvBase {
 protected:
  using ConvBase::ConvBase;

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    ops::conv2d_forward(geom_, *in[0], params_[0].value, bias(), fused(), out, ctx.threads);
    finish(out, ctx);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    activation_backward(out, dout, ctx);
    ops::conv2d_backward(geom_, *in[0], params_[0].value, dout, din[0], params_[0].grad,
                         bias_grad(), conv_state(ctx).ws, ctx.threads);
  }

  ops::Conv2DArgs args_;
  kernels::ConvGeometry geom_{};
};

class DepthwiseConv2DLayer : public SingleConv {
 public:
  explicit DepthwiseConv2DLayer(const Attrs& a) : SingleConv(a) {
    a.check_known(with_regularizers({"kernel_size", "strides", "padding", "dilation_rate",
                                     "depth_multiplier", "activation", "use_bias",
                                     "depthwise_initializer", "bias_initializer"}));
    read_window(a, 2, args_);
    args_.padding = parse_padding(a);
    mult_ = a.get_int("depth_multiplier", 1);
    if (mult_ <= 0)
      throw ValueError(cat(who(), ": depth_multiplier must be positive, received ", mult_));
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    shape_rng_ = rng;
    geom_ = add_depthwise_kernel(inputs[0], args_, mult_);
    add_bias(geom_.F);
    return {geom_.OH, geom_.OW, geom_.F};
  }

 private:
  int64_t mult_ = 1;
};

class SeparableConv2DLayer : public ConvBase {
 public:
  explicit SeparableConv2DLayer(const Attrs& a) : ConvBase(a) {
    a.check_known(with_regularizers({"filters", "kernel_size", "strides", "padding",
                                     "dilation_rate", "depth_multiplier", "activation",
                                     "use_bias", "depthwise_initializer",
                                     "pointwise_initializer", "bias_initializer"}));
    read_window(a, 2, depth_args_);
    depth_args_.padding = parse_padding(a);
    mult_ = a.get_int("depth_multiplier", 1);
    filters_ = a.get_int("filters");
    if (mult_ <= 0 || filters_ <= 0)
      throw ValueError(cat(who(), ": filters and depth_multiplier must be positive, received ",
                           filters_, " and ", mult_));
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    shape_rng_ = rng;
    depth_ = add_depthwise_kernel(inputs[0], depth_args_, mult_);
    ops::Conv2DArgs point;
    point.filters = filters_;
    point_ = ops::conv2d_geometry({depth_.OH, depth_.OW, depth_.F}, point, who());
    kernel_param("pointwise_kernel", {1, 1, depth_.F, filters_}, "pointwise_initializer",
                 depth_.F, filters_);
    add_bias(filters_);
    return {point_.OH, point_.OW, filters_};
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    Tensor& mid = conv_state(ctx).mid;
    mid.resize({in[0]->dim(0), depth_.OH, depth_.OW, depth_.F});
    ops::conv2d_forward(depth_, *in[0], params_[0].value, nullptr, ops::Activation::Linear, mid,
                        ctx.threads);
    ops::conv2d_forward(point_, mid, params_[1].value, bias(), fused(), out, ctx.threads);
    finish(out, ctx);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    activation_backward(out, dout, ctx);
    ConvState& s = conv_state(ctx);
    Tensor dmid(s.mid.shape());
    ops::conv2d_backward(point_, s.mid, params_[1].value, dout, &dmid, params_[1].grad,
                         bias_grad(), s.ws2, ctx.threads);
    ops::conv2d_backward(depth_, *in[0], params_[0].value, dmid, din[0], params_[0].grad,
                         nullptr, s.ws, ctx.threads);
  }

 private:
  ops::Conv2DArgs depth_args_;
  int64_t mult_ = 1, filters_ = 0;
  kernels::ConvGeometry depth_{}, point_{};
};

class Conv1DLayer : public SingleConv {
 public:
  explicit Conv1DLayer(const Attrs& a) : SingleConv(a) {
    read_conv_args(a, 1, args_);
    const std::string padding = a.get_string("padding", "valid");
    if (padding == "causal") {  // everything before the first step
      args_.padding.mode = ops::PadMode::Explicit;
      args_.padding.left = args_.dw * (args_.kw - 1);
    } else if (padding == "same") {
      args_.padding.mode = ops::PadMode::Same;
    } else if (padding != "valid") {
      throw ValueError(cat(who(), ": padding must be 'valid', 'same' or 'causal', received '",
                           padding, "'"));
    }
    ops::conv2d_check_args(args_, who());
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    shape_rng_ = rng;
    if (inputs[0].size() != 2)
      throw ShapeError(cat(who(), ": expected input of shape (N, steps, channels), received ",
                           batch_shape_str(inputs[0])));
    geom_ = ops::conv2d_geometry({1, inputs[0][0], inputs[0][1]}, args_, who());
    kernel_param("kernel", {geom_.KW, geom_.cin_group(), geom_.F}, "kernel_initializer",
                 geom_.KW * geom_.cin_group(), geom_.KW * geom_.F);
    add_bias(geom_.F);
    return {geom_.OW, geom_.F};
  }
};

class Conv2DTransposeLayer : public ConvBase {
 public:
  explicit Conv2DTransposeLayer(const Attrs& a) : ConvBase(a) {
    a.check_known(with_regularizers({"filters", "kernel_size", "strides", "padding",
                                     "output_padding", "dilation_rate", "activation",
                                     "use_bias", "kernel_initializer", "bias_initializer"}));
    read_window(a, 2, args_);
    args_.filters = a.get_int("filters");
    ops::conv2d_check_args(args_, who());
    const std::string padding = a.get_string("padding", "valid");
    if (padding != "valid" && padding != "same")
      throw ValueError(cat(who(), ": padding must be 'valid' or 'same', received '", padding,
                           "'"));
    same_ = padding == "same";
    if (a.has("output_padding")) {
      output_padding_ = a.get_ints("output_padding", 2, {});
      if (output_padding_[0] < 0 || output_padding_[1] < 0 ||
          output_padding_[0] >= std::max(args_.sh, args_.dh) ||
          output_padding_[1] >= std::max(args_.sw, args_.dw))
        throw ValueError(cat(who(), ": output_padding must be non-negative and smaller than "
                                    "the stride (or dilation), received ",
                             shape_str(output_padding_)));
    }
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    shape_rng_ = rng;
    const Shape& s = inputs[0];
    if (s.size() != 3)
      throw ShapeError(cat(who(), ": expected input of shape (N, H, W, C), received ",
                           batch_shape_str(s)));
    // The convolution this layer is the adjoint of: from the (larger) output
    // back to the input.
    geom_ = kernels::ConvGeometry{};
    geom_.OH = s[0], geom_.OW = s[1], geom_.F = s[2];
    geom_.C = args_.filters;
    geom_.KH = args_.kh, geom_.KW = args_.kw;
    geom_.SH = args_.sh, geom_.SW = args_.sw;
    geom_.DH = args_.dh, geom_.DW = args_.dw;
    geom_.groups = 1;
    const Extent h = length(s[0], args_.kh, args_.sh, args_.dh, 0);
    const Extent w = length(s[1], args_.kw, args_.sw, args_.dw, 1);
    geom_.H = h.out, geom_.W = w.out, geom_.PT = h.before, geom_.PL = w.before;
    shape_numel({geom_.H, geom_.W, geom_.C}, cat(who(), ": output"));
    kernel_param("kernel", {geom_.KH, geom_.KW, geom_.C, geom_.F}, "kernel_initializer",
                 geom_.KH * geom_.KW * geom_.F, geom_.KH * geom_.KW * geom_.C);
    add_bias(geom_.C);
    return {geom_.H, geom_.W, geom_.C};
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t N = in[0]->dim(0);
    ops::conv2d_input_grad(geom_, N, in[0]->data(), params_[0].value.data(), out.data(),
                           conv_state(ctx).ws, ctx.threads);
    if (const Tensor* b = bias()) {
      const int64_t C = geom_.C, rows = out.numel() / C;
      float* y = out.data();
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < C; ++c) y[r * C + c] += b->data()[c];
    }
    apply_activation(out, ctx);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    activation_backward(out, dout, ctx);
    const int64_t N = dout.dim(0);
    if (Tensor* db = bias_grad())
      ops::column_sums(dout.data(), N * geom_.H * geom_.W, geom_.C, db->data(), ctx.threads);
    if (din[0])
      ops::conv2d_forward(geom_, dout, params_[0].value, nullptr, ops::Activation::Linear,
                          *din[0], ctx.threads);
    // The kernel gradient of the convolution from dout to this layer's input.
    ops::conv2d_backward(geom_, dout, params_[0].value, *in[0], nullptr, params_[0].grad,
                         nullptr, conv_state(ctx).ws, ctx.threads);
  }

 private:
  struct Extent {
    int64_t before, out;
  };
  // Keras's output length along an axis of `in` steps, and the padding the
  // adjoint convolution puts before the first one.
  Extent length(int64_t in, int64_t k, int64_t s, int64_t d, size_t axis) const {
    const int64_t keff = d * (k - 1) + 1;
    if (output_padding_.empty()) {
      if (!same_) return {0, in * s + std::max<int64_t>(keff - s, 0)};
      const int64_t out = in * s;
      return {std::max<int64_t>((in - 1) * s + keff - out, 0) / 2, out};
    }
    const int64_t pad = same_ ? keff / 2 : 0;
    const int64_t out = (in - 1) * s + keff - 2 * pad + output_padding_[axis];
    if (out <= 0)
      throw ShapeError(cat(who(), ": the output would be empty along axis ", axis + 1));
    return {pad, out};
  }

  ops::Conv2DArgs args_;
  bool same_ = false;
  std::vector<int64_t> output_padding_;
  kernels::ConvGeometry geom_{};
};

}  // namespace

std::unique_ptr<Layer> make_depthwise_conv2d(const Attrs& a) {
  return std::make_unique<DepthwiseConv2DLayer>(a);
}
std::unique_ptr<Layer> make_separable_conv2d(const Attrs& a) {
  return std::make_unique<SeparableConv2DLayer>(a);
}
std::unique_ptr<Layer> make_conv1d(const Attrs& a) { return std::make_unique<Conv1DLayer>(a); }
std::unique_ptr<Layer> make_conv2d_transpose(const Attrs& a) {
  return std::make_unique<Conv2DTransposeLayer>(a);
}

}  // namespace pyconv

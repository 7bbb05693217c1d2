// Conv2D layer: kernel (KH, KW, C/groups, F), optional bias (F), activation.
#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"
#include "graph/layers/conv_args.h"
#include "graph/layers/built.h"
#include "graph/layers/row_op.h"
#include "ops/conv.h"
#include "ops/conv_pool.h"

namespace pyconv {

namespace {

class Conv2DLayer : public Layer, public MaxPoolFusable {
 public:
  explicit Conv2DLayer(const Attrs& a) : Layer(a) {
    read_conv_args(a, 2, args_);
    args_.padding = parse_padding(a);
    use_bias_ = a.get_bool("use_bias", true);
    activation_ = ops::parse_activation(a.get_string("activation", "linear"), who());
    ops::conv2d_check_args(args_, who());
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    geom_ = ops::conv2d_geometry(inputs[0], args_, who());
    const Shape kshape = ops::conv2d_kernel_shape(geom_);
    Param& kernel = add_param("kernel", kshape);
    initialize(kernel.value, attrs_.get_string("kernel_initializer", "glorot_uniform"),
               geom_.KH * geom_.KW * geom_.cin_group(), geom_.KH * geom_.KW * geom_.F, rng, who());
    if (use_bias_) {
      Param& bias = add_param("bias", {geom_.F});
      initialize(bias.value, attrs_.get_string("bias_initializer", "zeros"), 1, 1, rng, who());
    }
    return {geom_.OH, geom_.OW, geom_.F};
  }

  std::unique_ptr<LayerState> new_state() const override { return std::make_unique<State>(); }

  BackwardReads backward_reads() const override { return {true, activation_reads_output()}; }

  // Training changes the kernel every step: it packs per call, as the cache
  // would, and leaves the cache to inference.
  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    // An activation whose backward needs its input runs after the kernel,
    // which keeps that input (see Layer::apply_activation).
    const ops::Activation act = output_activation();
    const bool fuse = !ops::needs_input(act);
    ops::conv2d_forward(geom_, *in[0], params_[0].value, use_bias_ ? &params_[1].value : nullptr,
                        fuse ? act : ops::Activation::Linear, out, ctx.threads,
                        ctx.training ? nullptr : &kernel_cache_, params_[0].version);
    if (!fuse) apply_activation(out, ctx);
  }

  bool row_op(pcvm::Op* op) const override {
    if (!kRowBandsBuilt) return false;
    const kernels::ConvGeometry& g = geom_;
    return ops::conv2d_keeps_rows(g) &&
           describe_rows(pcvm::kConv2D, {g.H, g.W, g.C, g.OH, g.OW, g.F, g.KH, g.KW, g.SH, g.SW,
                                         g.DH, g.DW, g.PT, g.PL, g.groups}, op);
  }

  // As forward's inference, on a band's rows.
  void forward_rows(const pcvm::Op& band, const float* x, float* y) const override {
    if (!kRowBandsBuilt) return;
    kernels::ConvGeometry g = geom_;
    g.H = band.in_h, g.OH = band.out_h, g.PT = band.pad_top;
    const ops::Activation act = output_activation();
    const bool fuse = !ops::needs_input(act);
    ops::conv2d_forward(g, 1, x, params_[0].value, use_bias_ ? &params_[1].value : nullptr,
                        fuse ? act : ops::Activation::Linear, y, 1, &kernel_cache_,
                        params_[0].version);
    if (!fuse) ops::activation_forward(act, y, g.out_pixels(), g.F, 1);
  }

  // With any activation whose derivative follows from its output (the
  // pooled value is the winner's output), element-wise (not softmax).
  MaxPoolFusable* max_pool_fusable() override {
    const ops::Activation act = output_activation();
    return ops::needs_input(act) || act == ops::Activation::Softmax ? nullptr : this;
  }

  // (A runtime-only build finds no fusions: the graph never calls it there.)
  void forward_max_pooled(const Tensor& x, const kernels::PoolGeometry& pool, Tensor& pooled,
                          bool keep_winners, const RunContext& ctx) const override {
    require_training("a forward with a max pooling fused in");
    State& s = state_of<State>(ctx);
    ops::conv2d_maxpool_forward(geom_, pool, x, params_[0].value,
                                keep_winners ? s.pooled.packed : kernel_cache_,
                                params_[0].version, use_bias_ ? &params_[1].value : nullptr,
                                output_activation(), pooled, keep_winners, s.pooled, ctx.threads);
  }

  void backward_max_pooled(const Tensor& x, const kernels::PoolGeometry& pool,
                           const Tensor& pooled, Tensor& dpooled, Tensor* dx,
                           const RunContext& ctx) override {
    require_training("backward");
    ops::conv2d_maxpool_backward(geom_, pool, x, params_[0].value, output_activation(), pooled,
                                 dpooled, dx, params_[0].grad,
                                 use_bias_ ? &params_[1].grad : nullptr,
                                 state_of<State>(ctx).pooled, ctx.threads);
  }

  void prepare_inference() const override {
    ops::conv2d_prepare(geom_, params_[0].value, kernel_cache_, params_[0].version);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    activation_backward(out, dout, ctx);
    ops::conv2d_backward(geom_, *in[0], params_[0].value, dout, din[0], params_[0].grad,
                         use_bias_ ? &params_[1].grad : nullptr, state_of<State>(ctx).ws,
                         ctx.threads);
  }

 private:
  struct State : LayerState {
    ops::ConvWorkspace ws;
    ops::ConvPoolWorkspace pooled;  // with a max pooling fused in
    size_t bytes() const override { return ws.bytes() + pooled.bytes(); }
    void release() override {
      ws = ops::ConvWorkspace();
      pooled.release();
    }
  };

  ops::Conv2DArgs args_;
  bool use_bias_ = true;
  kernels::ConvGeometry geom_{};
  // The kernel as inference reads it. Derived from the weights, so it
  // belongs to the model (it locks itself).
  mutable ops::WeightCache kernel_cache_;
};

}  // namespace

std::unique_ptr<Layer> make_conv2d(const Attrs& attrs) {
  return std::make_unique<Conv2DLayer>(attrs);
}

}  // namespace pyconv

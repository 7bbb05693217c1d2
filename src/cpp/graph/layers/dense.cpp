// Dense layer: kernel (in, units), optional bias (units), activation.
#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"
#include "ops/dense.h"

namespace pyconv {

namespace {

class DenseLayer : public Layer {
 public:
  explicit DenseLayer(const Attrs& a) : Layer(a) {
    a.check_known(with_regularizers(
        {"units", "activation", "use_bias", "kernel_initializer", "bias_initializer"}));
    units_ = a.get_int("units");
    if (units_ <= 0) throw ValueError(cat(who(), ": units must be positive, received ", units_));
    use_bias_ = a.get_bool("use_bias", true);
    activation_ = ops::parse_activation(a.get_string("activation", "linear"), who());
  }

  // Like Keras, a Dense applies to the last axis: (N, ..., features) ->
  // (N, ..., units), every position alike (a squeeze-and-excitation gate's
  // (N, 1, 1, C), or a sequence).
  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    if (inputs[0].empty())
      throw ShapeError(cat(who(), ": expected input of shape (N, features), received ",
                           batch_shape_str(inputs[0])));
    const int64_t in = inputs[0].back();
    Param& kernel = add_param("kernel", {in, units_});
    initialize(kernel.value, attrs_.get_string("kernel_initializer", "glorot_uniform"), in,
               units_, rng, who());
    if (use_bias_) {
      Param& bias = add_param("bias", {units_});
      initialize(bias.value, attrs_.get_string("bias_initializer", "zeros"), 1, 1, rng, who());
    }
    Shape out = inputs[0];
    out.back() = units_;
    return out;
  }

  BackwardReads backward_reads() const override { return {true, activation_reads_output()}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    // Training changes the kernel every step: the GEMM packs it per call. An
    // activation whose backward needs its input runs after it, keeping that.
    const ops::Activation act = output_activation();
    const bool fuse = !ops::needs_input(act);
    Tensor x_rows, y_rows;  // views only for inputs of rank > 2 (a view's shape allocates)
    ops::dense_forward(as_rows(*in[0], x_rows), params_[0].value,
                       use_bias_ ? &params_[1].value : nullptr,
                       fuse ? act : ops::Activation::Linear, as_rows(out, y_rows), ctx.threads,
                       ctx.training ? nullptr : &kernel_cache_, params_[0].version);
    if (!fuse) apply_activation(out, ctx);
  }

  void prepare_inference() const override {
    ops::dense_prepare(params_[0].value, kernel_cache_, params_[0].version);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    activation_backward(out, dout, ctx);
    Tensor x_rows, dy_rows, dx_rows;
    ops::dense_backward(as_rows(*in[0], x_rows), params_[0].value, as_rows(dout, dy_rows),
                        din[0] ? &as_rows(*din[0], dx_rows) : nullptr, params_[0].grad,
                        use_bias_ ? &params_[1].grad : nullptr, ctx.threads);
  }

 private:
  // t as a matrix, one row per position (every axis but the last): t itself
  // when it is one, else a view of it kept in `view`.
  static Tensor& as_rows(const Tensor& t, Tensor& view) {
    if (t.ndim() == 2) return const_cast<Tensor&>(t);
    const int64_t cols = t.dim(-1);
    view = Tensor::view(const_cast<float*>(t.data()), {t.numel() / cols, cols});
    return view;
  }

  int64_t units_ = 0;
  bool use_bias_ = true;
  // The kernel packed for the GEMM: the model's, shared by every thread.
  mutable ops::WeightCache kernel_cache_;
};

}  // namespace

std::unique_ptr<Layer> make_dense(const Attrs& attrs) { return std::make_unique<DenseLayer>(attrs); }

}  // namespace pyconv

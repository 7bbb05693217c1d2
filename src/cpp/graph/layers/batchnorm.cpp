// BatchNormalization over the last axis (channels), as Keras does it:
//   training:  y = gamma * (x - mean_B) / sqrt(var_B + epsilon) + beta, with
//              the batch's mean and (biased) variance per channel; each
//              training step then moves the moving statistics towards them:
//              moving = momentum * moving + (1 - momentum) * batch.
//   inference: the same with the moving statistics; also in training when
//              the layer is frozen (trainable = False), as in Keras, so that
//              fine-tuning leaves a pretrained network's statistics alone,
//              and with inference_mode (a model called with training=False
//              inside another, in Keras), where gamma and beta still train.
// Weights in Keras's order: gamma (scale=True), beta (center=True),
// moving_mean, moving_variance (state: never trained).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/training.h"
#include "core/error.h"
#include "core/threads.h"
#include "graph/layer.h"

namespace pyconv {

namespace {

// Per-channel sums over rows, `n` at once: add(r, sums) adds row r's terms
// into sums[0 .. n*C). The rows are cut into a fixed number of blocks, summed
// on up to `threads` threads and added in block order, so the result does
// not depend on the thread count or on which thread took which block. Runs
// of kRun rows are summed in float (vectorised) and then added in double.
template <class Add>
std::vector<double> channel_sums(int64_t rows, int64_t C, int n, int threads, Add add) {
  constexpr int64_t kBlocks = 16, kRun = 32;
  const int64_t blocks = std::min(rows, kBlocks);
  std::vector<double> partial(static_cast<size_t>(blocks * n * C), 0.0);
  parallel_for(threads_for(rows * C * n, threads), blocks, [&](int64_t b) {
    double* sums = partial.data() + b * n * C;
    std::vector<float> run(static_cast<size_t>(n * C));
    const int64_t end = rows * (b + 1) / blocks;
    for (int64_t r0 = rows * b / blocks; r0 < end; r0 += kRun) {
      std::fill(run.begin(), run.end(), 0.f);
      for (int64_t r = r0; r < std::min(end, r0 + kRun); ++r) add(r, run.data());
      for (int64_t i = 0; i < n * C; ++i) sums[i] += run[i];
    }
  }, /*dynamic=*/true);
  std::vector<double> total(static_cast<size_t>(n * C), 0.0);
  for (int64_t b = 0; b < blocks; ++b)
    for (int64_t i = 0; i < n * C; ++i) total[i] += partial[b * n * C + i];
  return total;
}

// out[r, c] = (u[r, c] - shift[c]) * mult[c] + add[c] (+ v[r, c] * vmult[c]
// where v is non-null), over blocks of rows with every pointer a local: the
// per-row calls of a row-at-a-time loop (a row is only C values) and the
// reloads through captured vectors cost more than the arithmetic.
void channel_map(const float* u, const float* shift, const float* mult, const float* add,
                 const float* v, const float* vmult, float* out, int64_t rows, int64_t C,
                 int threads) {
  const int64_t block = std::max<int64_t>(1, 8192 / C);
  parallel_blocks(threads_for(rows * C, threads), rows, block, [=](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* ur = u + r * C;
      float* o = out + r * C;
      if (v) {
        const float* vr = v + r * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) o[c] = (ur[c] - shift[c]) * mult[c] + add[c] + vr[c] * vmult[c];
      } else {
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) o[c] = (ur[c] - shift[c]) * mult[c] + add[c];
      }
    }
  });
}

class BatchNormLayer : public Layer {
 public:
  explicit BatchNormLayer(const Attrs& a) : Layer(a) {
    a.check_known({"axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                   "gamma_initializer", "moving_mean_initializer",
                   "moving_variance_initializer", "inference_mode"});
    inference_mode_ = a.get_bool("inference_mode", false);
    if (a.get_int("axis", -1) != -1)
      throw ValueError(cat(who(), ": only axis=-1 (the channels of channels-last data) is "
                                  "supported, received ", a.get_int("axis", -1)));
    momentum_ = a.get_float("momentum", 0.99);
    epsilon_ = a.get_float("epsilon", 1e-3);
    center_ = a.get_bool("center", true);
    scale_ = a.get_bool("scale", true);
    if (!(momentum_ >= 0 && momentum_ <= 1))
      throw ValueError(cat(who(), ": momentum must be in [0, 1], received ", momentum_));
    if (!(epsilon_ > 0 && std::isfinite(epsilon_)))
      throw ValueError(cat(who(), ": epsilon must be positive, received ", epsilon_));
  }

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    if (inputs[0].empty())
      throw ShapeError(cat(who(), ": expected input with a channel axis, received ",
                           batch_shape_str(inputs[0])));
    const int64_t C = inputs[0].back();
    auto add = [&](bool state, const char* name, const char* key, const char* init) {
      Param& p = state ? add_state(name, {C}) : add_param(name, {C});
      initialize(p.value, attrs_.get_string(key, init), 1, 1, rng, who());
    };
    if (scale_) add(false, "gamma", "gamma_initializer", "ones");
    if (center_) add(false, "beta", "beta_initializer", "zeros");
    add(true, "moving_mean", "moving_mean_initializer", "zeros");
    add(true, "moving_variance", "moving_variance_initializer", "ones");
    return inputs[0];
  }

  std::unique_ptr<LayerState> new_state() const override { return std::make_unique<State>(); }

  // In place: dy's sums are taken before the element-wise map writes dx.
  BackwardReads backward_reads() const override { return {true, false, /*in_place=*/true}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t C = out.dim(-1), rows = out.numel() / C;
    const float* x = in[0]->data();
    State& s = state_of<State>(ctx);
    std::vector<float>& shift = s.shift;  // y = (x - shift) * mult + beta
    std::vector<float>& mult = s.mult;
    shift.resize(C), mult.resize(C);  // kept between calls: inference allocates nothing
    if (batch_statistics(ctx)) {
      batch_moments(x, rows, C, ctx.threads, s.mean, s.var);
      s.inv_std.resize(C);
      for (int64_t c = 0; c < C; ++c) {
        s.inv_std[c] = 1.f / std::sqrt(s.var[c] + static_cast<float>(epsilon_));
        shift[c] = s.mean[c];
        mult[c] = s.inv_std[c] * gamma(c);
      }
    } else {
      const float* mean = moving(0), *var = moving(1);
      for (int64_t c = 0; c < C; ++c) {
        shift[c] = mean[c];
        mult[c] = gamma(c) / std::sqrt(var[c] + static_cast<float>(epsilon_));
      }
    }
    std::vector<float>& offset = s.offset;
    offset.resize(C);
    for (int64_t c = 0; c < C; ++c) offset[c] = beta(c);
    channel_map(x, shift.data(), mult.data(), offset.data(), nullptr, nullptr, out.data(), rows,
                C, ctx.threads);
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    const int64_t C = dout.dim(-1), rows = dout.numel() / C;
    if (!batch_statistics(ctx)) {  // frozen or in inference mode: a fixed map per channel
      fixed_backward(*in[0], dout, din[0], C, rows, ctx);
      return;
    }
    State& s = state_of<State>(ctx);
    const float* x = in[0]->data();
    const float* dy = dout.data();
    const float* mean = s.mean.data();
    const float* inv_std = s.inv_std.data();
    const std::vector<double> sums = grad_sums(x, dy, mean, inv_std, rows, C, ctx.threads);
    const double* sum_dy = sums.data();
    const double* sum_dy_xhat = sums.data() + C;
    store_affine_grads(sums, C);
    if (din[0]) {
      // dx = gamma * inv_std * (dy - mean(dy) - x_hat * mean(dy * x_hat))
      float* dx = din[0]->data();
      const double m = static_cast<double>(rows);
      // Per channel: dx = a * dy + b * x + k, in float (the sums above carry the precision).
      std::vector<float> a(C), b(C), k(C);
      for (int64_t c = 0; c < C; ++c) {
        const double g = gamma(c) * static_cast<double>(inv_std[c]);
        const double slope = sum_dy_xhat[c] / m * inv_std[c];
        a[c] = static_cast<float>(g);
        b[c] = static_cast<float>(-g * slope);
        k[c] = static_cast<float>(g * (slope * mean[c] - sum_dy[c] / m));
      }
      const std::vector<float> none(C, 0.f);
      channel_map(x, none.data(), b.data(), k.data(), dy, a.data(), dx, rows, C, ctx.threads);
    }
    update_moving_statistics(s, C);
  }

 private:
  struct State : LayerState {
    std::vector<float> mean, var, inv_std;  // of the last training batch
    std::vector<float> shift, mult, offset;  // the forward pass's per-channel map
  };

  bool batch_statistics(const RunContext& ctx) const {
    return ctx.training && trainable() && !inference_mode_;
  }

  // y = gamma * (x - moving_mean) * inv_std + beta with the moving statistics
  // fixed: dx = gamma * inv_std * dy; a trainable layer (inference mode) also
  // gets dgamma = sum(dy * x_hat) and dbeta = sum(dy), a frozen one none.
  void fixed_backward(const Tensor& x_in, const Tensor& dout, Tensor* dx, int64_t C,
                      int64_t rows, const RunContext& ctx) {
    for (Param& p : params_)
      if (!p.is_state) p.grad.zero();
    const float* var = moving(1);
    std::vector<float> inv_std(C);
    for (int64_t c = 0; c < C; ++c)
      inv_std[c] = 1.f / std::sqrt(var[c] + static_cast<float>(epsilon_));
    if (trainable() && (scale_ || center_))
      store_affine_grads(grad_sums(x_in.data(), dout.data(), moving(0), inv_std.data(), rows, C,
                                   ctx.threads), C);
    if (!dx) return;
    std::vector<float> mult(C);
    for (int64_t c = 0; c < C; ++c)
      mult[c] = gamma(c) / std::sqrt(var[c] + static_cast<float>(epsilon_));
    const std::vector<float> none(C, 0.f);
    channel_map(dout.data(), none.data(), mult.data(), none.data(), nullptr, nullptr, dx->data(),
                rows, C, ctx.threads);
  }

  // Per channel, in double (rows may be many): sum(dy), then sum(dy * x_hat)
  // with x_hat = (x - mean) * inv_std.
  static std::vector<double> grad_sums(const float* x, const float* dy, const float* mean,
                                       const float* inv_std, int64_t rows, int64_t C,
                                       int threads) {
    return channel_sums(rows, C, 2, threads, [&](int64_t r, float* acc) {
      const float* xr = x + r * C;
      const float* dyr = dy + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        acc[c] += dyr[c];
        acc[C + c] += dyr[c] * ((xr[c] - mean[c]) * inv_std[c]);
      }
    });
  }

  // gamma's gradient sum(dy * x_hat) and beta's sum(dy), from grad_sums.
  void store_affine_grads(const std::vector<double>& sums, int64_t C) {
    size_t k = 0;
    if (scale_) {
      float* dgamma = params_[k++].grad.data();
      for (int64_t c = 0; c < C; ++c) dgamma[c] = static_cast<float>(sums[C + c]);
    }
    if (center_) {
      float* dbeta = params_[k++].grad.data();
      for (int64_t c = 0; c < C; ++c) dbeta[c] = static_cast<float>(sums[c]);
    }
  }

  float gamma(int64_t c) const { return scale_ ? params_[0].value.data()[c] : 1.f; }
  float beta(int64_t c) const {
    return center_ ? params_[scale_ ? 1 : 0].value.data()[c] : 0.f;
  }
  // 0: moving_mean, 1: moving_variance.
  const float* moving(int which) const {
    return params_[(scale_ ? 1 : 0) + (center_ ? 1 : 0) + which].value.data();
  }

  // Mean and biased variance of each channel over rows, in one pass: sums of
  // d and d^2 for d = x - (the first row's value), a shift near the mean
  // that keeps the variance from cancelling.
  static void batch_moments(const float* x, int64_t rows, int64_t C, int threads,
                            std::vector<float>& mean, std::vector<float>& var) {
    const float* shift = x;
    const std::vector<double> sums = channel_sums(rows, C, 2, threads, [&](int64_t r, float* acc) {
      const float* xr = x + r * C;
#pragma omp simd
      for (int64_t c = 0; c < C; ++c) {
        const float d = xr[c] - shift[c];
        acc[c] += d;
        acc[C + c] += d * d;
      }
    });
    mean.resize(C);
    var.resize(C);
    for (int64_t c = 0; c < C; ++c) {
      const double m = sums[c] / rows;
      mean[c] = static_cast<float>(shift[c] + m);
      var[c] = static_cast<float>(std::max(0.0, sums[C + c] / rows - m * m));
    }
  }

  // A training step moves the moving statistics (training holds the model
  // alone, so writing them here is safe); non-finite batch statistics are
  // not taken in (that step's weights are refused too).
  void update_moving_statistics(const State& s, int64_t C) {
    for (int64_t c = 0; c < C; ++c)
      if (!std::isfinite(s.mean[c]) || !std::isfinite(s.var[c])) return;
    const size_t first = (scale_ ? 1 : 0) + (center_ ? 1 : 0);
    Param& mean = params_[first];
    Param& var = params_[first + 1];
    const float keep = static_cast<float>(momentum_), take = 1.f - keep;
    for (int64_t c = 0; c < C; ++c) {
      mean.value.data()[c] = keep * mean.value.data()[c] + take * s.mean[c];
      var.value.data()[c] = keep * var.value.data()[c] + take * s.var[c];
    }
    ++mean.version;
    ++var.version;
  }

  double momentum_ = 0.99, epsilon_ = 1e-3;
  bool center_ = true, scale_ = true;
  bool inference_mode_ = false;  // moving statistics in training too (see the top)
};

}  // namespace

std::unique_ptr<Layer> make_batchnorm(const Attrs& attrs) {
  return std::make_unique<BatchNormLayer>(attrs);
}

}  // namespace pyconv

// Reshape (a new per-sample shape, one axis may be -1) and Permute (reorders
// the per-sample axes, Keras's 1-based `dims`).
#include <algorithm>
#include <cstring>

#include "core/error.h"
#include "graph/layer.h"

namespace pyconv {

namespace {

class ReshapeLayer : public Layer {
 public:
  explicit ReshapeLayer(const Attrs& a) : Layer(a) {
    a.check_known({"target_shape"});
    target_ = a.get_int_list("target_shape");
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    const int64_t total = shape_numel(inputs[0], who());
    Shape out = target_;
    int64_t known = 1, unknown = -1;
    for (size_t d = 0; d < out.size(); ++d) {
      if (out[d] == -1 && unknown < 0) {
        unknown = static_cast<int64_t>(d);
        continue;
      }
      if (out[d] <= 0)
        throw ValueError(cat(who(), ": target_shape must hold positive sizes and at most one "
                                    "-1, received ", shape_str(target_)));
      known = checked_mul(known, out[d], who());
    }
    if (unknown >= 0 && known > 0 && total % known == 0) out[unknown] = total / known;
    if ((unknown >= 0 && out[unknown] == -1) || shape_numel(out, who()) != total)
      throw ShapeError(cat(who(), ": cannot reshape ", batch_shape_str(inputs[0]), " (",
                           total, " values per sample) to ", batch_shape_str(target_)));
    return out;
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    std::memcpy(out.data(), in[0]->data(), sizeof(float) * out.numel());
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    if (din[0]) std::memcpy(din[0]->data(), dout.data(), sizeof(float) * dout.numel());
  }

 private:
  static int64_t checked_mul(int64_t a, int64_t b, const std::string& who) {
    if (b != 0 && a > INT64_MAX / b) throw ValueError(cat(who, ": target_shape is too large"));
    return a * b;
  }

  Shape target_;
};

class PermuteLayer : public Layer {
 public:
  explicit PermuteLayer(const Attrs& a) : Layer(a) {
    a.check_known({"dims"});
    dims_ = a.get_int_list("dims");
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    const Shape& s = inputs[0];
    std::vector<int64_t> sorted = dims_;
    std::sort(sorted.begin(), sorted.end());
    bool ok = sorted.size() == s.size();
    for (size_t d = 0; ok && d < sorted.size(); ++d) ok = sorted[d] == static_cast<int64_t>(d) + 1;
    if (!ok)
      throw ValueError(cat(who(), ": dims must be a permutation of 1..", s.size(),
                           " for inputs of shape ", batch_shape_str(s), ", received ",
                           shape_str(dims_)));
    in_ = s;
    Shape out;
    for (int64_t d : dims_) out.push_back(s[d - 1]);
    return out;
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    move(in[0]->data(), out.data(), out.dim(0), false);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    if (din[0]) move(dout.data(), din[0]->data(), dout.dim(0), true);
  }

 private:
  // Output element at multi-index o comes from input index in[dims[d] - 1] =
  // o[d]; `back` moves the other way (the gradient).
  void move(const float* src, float* dst, int64_t N, bool back) const {
    const size_t rank = in_.size();
    std::vector<int64_t> in_stride(rank), out_shape(rank);
    int64_t stride = 1;
    for (size_t d = rank; d-- > 0;) in_stride[d] = stride, stride *= in_[d];
    for (size_t d = 0; d < rank; ++d) out_shape[d] = in_[dims_[d] - 1];
    const int64_t per_sample = stride;
    std::vector<int64_t> idx(rank, 0);
    for (int64_t n = 0; n < N; ++n) {
      std::fill(idx.begin(), idx.end(), 0);
      for (int64_t o = 0; o < per_sample; ++o) {
        int64_t i = 0;
        for (size_t d = 0; d < rank; ++d) i += idx[d] * in_stride[dims_[d] - 1];
        if (back)
          dst[n * per_sample + i] = src[n * per_sample + o];
        else
          dst[n * per_sample + o] = src[n * per_sample + i];
        for (size_t d = rank; d-- > 0;) {  // the next output multi-index
          if (++idx[d] < out_shape[d]) break;
          idx[d] = 0;
        }
      }
    }
  }

  std::vector<int64_t> dims_;
  Shape in_;
};

}  // namespace

std::unique_ptr<Layer> make_reshape(const Attrs& attrs) {
  return std::make_unique<ReshapeLayer>(attrs);
}
std::unique_ptr<Layer> make_permute(const Attrs& attrs) {
  return std::make_unique<PermuteLayer>(attrs);
}

}  // namespace pyconv

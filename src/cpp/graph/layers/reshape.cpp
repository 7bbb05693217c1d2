// Reshape (a new per-sample shape, one axis may be -1) and Permute (reorders
// the per-sample axes, Keras's 1-based `dims`).
#include <algorithm>
#include <array>
#include <cstring>

#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"
#include "graph/layers/same_bytes.h"

namespace pyconv {

namespace {

class ReshapeLayer : public SameBytesLayer {
 public:
  explicit ReshapeLayer(const Attrs& a) : SameBytesLayer(a) {
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
    bool ok = sorted.size() == s.size() && s.size() <= kMaxRank;
    for (size_t d = 0; ok && d < sorted.size(); ++d) ok = sorted[d] == static_cast<int64_t>(d) + 1;
    if (!ok)
      throw ValueError(cat(who(), ": dims must be a permutation of 1..", s.size(),
                           " for inputs of shape ", batch_shape_str(s), " (at most ", kMaxRank,
                           " axes), received ", shape_str(dims_)));
    rank_ = s.size();
    int64_t stride = 1;
    std::array<int64_t, kMaxRank> in_stride{};
    for (size_t d = rank_; d > 0; --d) in_stride[d - 1] = stride, stride *= s[d - 1];
    per_sample_ = stride;
    Shape out;
    for (size_t d = 0; d < rank_; ++d) {
      out.push_back(s[dims_[d] - 1]);
      out_shape_[d] = out.back();
      stride_[d] = in_stride[dims_[d] - 1];
    }
    return out;
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    move(in[0]->data(), out.data(), out.dim(0), false);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    require_training("backward");
    if (din[0]) move(dout.data(), din[0]->data(), dout.dim(0), true);
  }

 private:
  static constexpr size_t kMaxRank = 8;

  // Output element o (in row-major order) comes from input index i, the sum
  // of its multi-index times the permuted input strides; `back` moves the
  // other way (the gradient).
  void move(const float* src, float* dst, int64_t N, bool back) const {
    for (int64_t n = 0; n < N; ++n) {
      std::array<int64_t, kMaxRank> idx{};
      const int64_t base = n * per_sample_;
      for (int64_t o = 0; o < per_sample_; ++o) {
        int64_t i = 0;
        for (size_t d = 0; d < rank_; ++d) i += idx[d] * stride_[d];
        if (back)
          dst[base + i] = src[base + o];
        else
          dst[base + o] = src[base + i];
        for (size_t d = rank_; d > 0; --d) {  // the next output multi-index
          if (++idx[d - 1] < out_shape_[d - 1]) break;
          idx[d - 1] = 0;
        }
      }
    }
  }

  std::vector<int64_t> dims_;
  size_t rank_ = 0;
  int64_t per_sample_ = 0;
  std::array<int64_t, kMaxRank> out_shape_{}, stride_{};  // stride_: of the input axis behind each
};

}  // namespace

std::unique_ptr<Layer> make_reshape(const Attrs& attrs) {
  return std::make_unique<ReshapeLayer>(attrs);
}
std::unique_ptr<Layer> make_permute(const Attrs& attrs) {
  return std::make_unique<PermuteLayer>(attrs);
}

}  // namespace pyconv

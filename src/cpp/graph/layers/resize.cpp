// Layers that change an image's size without weights: ZeroPadding2D and
// Cropping2D (zeros added, or rows and columns removed, at each border:
// "padding"/"cropping" = [top, bottom, left, right]), and UpSampling2D
// (each pixel repeated `size` times, or bilinear interpolation with half-
// pixel centres, as Keras and PyTorch's align_corners=False).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/training.h"
#include "core/error.h"
#include "graph/layer.h"

namespace pyconv {

namespace {

Shape image_shape(const Shape& s, const std::string& who) {
  if (s.size() != 3)
    throw ShapeError(cat(who, ": expected input of shape (N, H, W, C), received ",
                         batch_shape_str(s)));
  return s;
}

// Copies each small image into the large one at (R0, C0), or that window of
// the large one back (to_large = false). The large image's other pixels are
// zero; a small destination is overwritten whole, so it is not cleared.
void copy_window(const float* src, float* dst, int64_t N, const Shape& small, const Shape& large,
                 int64_t R0, int64_t C0, bool to_large) {
  const int64_t C = small[2], rows = small[0], cols = small[1];
  const int64_t small_size = rows * cols * C, large_size = large[0] * large[1] * C;
  if (to_large) std::fill(dst, dst + N * large_size, 0.f);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t small_at = n * small_size + r * cols * C;
      const int64_t large_at = n * large_size + ((R0 + r) * large[1] + C0) * C;
      if (to_large)
        std::memcpy(dst + large_at, src + small_at, sizeof(float) * cols * C);
      else
        std::memcpy(dst + small_at, src + large_at, sizeof(float) * cols * C);
    }
}

class PadOrCropLayer : public Layer {
 public:
  PadOrCropLayer(const Attrs& a, bool pad) : Layer(a), pad_(pad) {
    const char* key = pad ? "padding" : "cropping";
    a.check_known({key});
    edges_ = a.get_ints(key, 4, {pad ? 1 : 0, pad ? 1 : 0, pad ? 1 : 0, pad ? 1 : 0});
    for (int64_t e : edges_)
      if (e < 0 || e > (int64_t{1} << 30))
        throw ValueError(cat(who(), ": ", key, " must be non-negative (at most 2^30), received ",
                             shape_str(edges_)));
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    in_ = image_shape(inputs[0], who());
    const int64_t sign = pad_ ? 1 : -1;
    out_ = {in_[0] + sign * (edges_[0] + edges_[1]), in_[1] + sign * (edges_[2] + edges_[3]),
            in_[2]};
    if (out_[0] <= 0 || out_[1] <= 0)
      throw ShapeError(cat(who(), ": cropping ", shape_str(edges_), " leaves nothing of ",
                           batch_shape_str(in_)));
    return out_;
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    if (pad_)
      copy_window(in[0]->data(), out.data(), out.dim(0), in_, out_, edges_[0], edges_[2], true);
    else
      copy_window(in[0]->data(), out.data(), out.dim(0), out_, in_, edges_[0], edges_[2], false);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    require_training("backward");
    if (!din[0]) return;
    if (pad_)
      copy_window(dout.data(), din[0]->data(), dout.dim(0), in_, out_, edges_[0], edges_[2], false);
    else
      copy_window(dout.data(), din[0]->data(), dout.dim(0), out_, in_, edges_[0], edges_[2], true);
  }

 private:
  bool pad_;
  std::vector<int64_t> edges_;  // top, bottom, left, right
  Shape in_, out_;
};

class UpSampling2DLayer : public Layer {
 public:
  explicit UpSampling2DLayer(const Attrs& a) : Layer(a) {
    a.check_known({"size", "interpolation"});
    size_ = a.get_ints("size", 2, {2, 2});
    for (int64_t s : size_)
      if (s <= 0 || s > 4096)
        throw ValueError(cat(who(), ": size must be positive (at most 4096), received ",
                             shape_str(size_)));
    const std::string mode = a.get_string("interpolation", "nearest");
    if (mode != "nearest" && mode != "bilinear")
      throw ValueError(cat(who(), ": interpolation must be 'nearest' or 'bilinear', received '",
                           mode, "'"));
    bilinear_ = mode == "bilinear";
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    in_ = image_shape(inputs[0], who());
    Shape out{in_[0] * size_[0], in_[1] * size_[1], in_[2]};
    shape_numel(out, who());
    return out;
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext&) const override {
    run(in[0]->data(), out.data(), out.dim(0), false);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext&) override {
    require_training("backward");
    if (!din[0]) return;
    std::fill(din[0]->data(), din[0]->data() + din[0]->numel(), 0.f);
    run(dout.data(), din[0]->data(), dout.dim(0), true);
  }

 private:
  // Where output coordinate o reads along an axis of `in` inputs, scaled by
  // `s`: two neighbours and the second one's weight.
  struct Taps {
    int64_t lo, hi;
    float w;
  };
  Taps taps(int64_t o, int64_t s, int64_t in) const {
    if (!bilinear_) return {o / s, o / s, 0.f};
    const float x = std::max(0.f, (static_cast<float>(o) + 0.5f) / static_cast<float>(s) - 0.5f);
    const int64_t lo = std::min(static_cast<int64_t>(x), in - 1);
    return {lo, std::min(lo + 1, in - 1), x - static_cast<float>(lo)};
  }

  // Forward: out = interpolated in. Backward (grad): in += the adjoint of it.
  void run(const float* src, float* dst, int64_t N, bool grad) const {
    const int64_t H = in_[0], W = in_[1], C = in_[2], OH = H * size_[0], OW = W * size_[1];
    const int corners = bilinear_ ? 4 : 1;  // nearest: the first corner, weight 1
    for (int64_t n = 0; n < N; ++n)
      for (int64_t oh = 0; oh < OH; ++oh) {
        const Taps th = taps(oh, size_[0], H);
        for (int64_t ow = 0; ow < OW; ++ow) {
          const Taps tw = taps(ow, size_[1], W);
          const int64_t corner[4] = {th.lo * W + tw.lo, th.lo * W + tw.hi, th.hi * W + tw.lo,
                                     th.hi * W + tw.hi};
          const float weight[4] = {(1 - th.w) * (1 - tw.w), (1 - th.w) * tw.w, th.w * (1 - tw.w),
                                   th.w * tw.w};
          const int64_t o = ((n * OH + oh) * OW + ow) * C, i0 = n * H * W * C;
          for (int64_t c = 0; c < C; ++c) {
            if (grad) {
              for (int k = 0; k < corners; ++k)
                dst[i0 + corner[k] * C + c] += weight[k] * src[o + c];
            } else {
              float v = 0.f;
              for (int k = 0; k < corners; ++k) v += weight[k] * src[i0 + corner[k] * C + c];
              dst[o + c] = v;
            }
          }
        }
      }
  }

  std::vector<int64_t> size_;
  bool bilinear_ = false;
  Shape in_;
};

}  // namespace

std::unique_ptr<Layer> make_zero_padding2d(const Attrs& attrs) {
  return std::make_unique<PadOrCropLayer>(attrs, true);
}
std::unique_ptr<Layer> make_cropping2d(const Attrs& attrs) {
  return std::make_unique<PadOrCropLayer>(attrs, false);
}
std::unique_ptr<Layer> make_upsampling2d(const Attrs& attrs) {
  return std::make_unique<UpSampling2DLayer>(attrs);
}

}  // namespace pyconv

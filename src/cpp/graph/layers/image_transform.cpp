// Keras's preprocessing layers that move pixels, each an affine resampling
// of (N, H, W, C) images (ops/resample.h), with Keras's arguments and maps:
//   Resizing           to (height, width), optionally after cropping or
//                      padding to the target's aspect ratio.
//   RandomCrop         a random (height, width) window in training; at
//                      inference, the centred window of the target's aspect
//                      ratio resized to it.
//   RandomFlip         each image flipped left-right and/or upside down with
//                      probability 1/2.
//   RandomRotation     rotated about its centre by a random fraction of a
//                      turn in [lower, upper] (positive: counter-clockwise).
//   RandomTranslation  shifted by random fractions of its height and width.
//   RandomZoom         scaled about its centre by 1 + a random factor
//                      (positive: zoomed out).
// The random ones act in training (and in Keras's model(x) / layer(x) on
// arrays); at inference they pass images through.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/threads.h"
#include "core/training.h"
#include "graph/layer.h"
#include "graph/layers/random_draws.h"
#include "ops/resample.h"

namespace pyconv {

namespace {

using ops::AffineMap;

constexpr double kTwoPi = 6.283185307179586;

// A random range [lower, upper] from the attributes `<name>_lower` and `<name>_upper`.
struct Range {
  float lower = 0.f, upper = 0.f;
  float at(float u) const { return lower + u * (upper - lower); }
};

Range range(const Attrs& a, const std::string& name, const std::string& who) {
  Range r{static_cast<float>(a.get_finite(name + "_lower", 0.0)),
          static_cast<float>(a.get_finite(name + "_upper", 0.0))};
  if (r.lower > r.upper)
    throw ValueError(cat(who, ": ", name, " must be (lower, upper) with lower <= upper, received (",
                         r.lower, ", ", r.upper, ")"));
  return r;
}

// One layer: the output size, and one map per image for a run (or none: the
// images pass through unchanged).
class ResampleLayer : public Layer {
 public:
  // random: the layer draws (and keeps a seed); Resizing does not.
  ResampleLayer(const Attrs& a, bool random) : Layer(a), random_(random), seed_(a) {}

  Shape build(const std::vector<Shape>& inputs, Rng* rng) override {
    const Shape& s = inputs[0];
    if (s.size() != 3)
      throw ShapeError(cat(who(), ": expected input of shape (N, H, W, C), received ",
                           batch_shape_str(s)));
    geom_.H = s[0], geom_.W = s[1], geom_.C = s[2];
    const auto [OH, OW] = configure(s[0], s[1]);
    geom_.OH = OH, geom_.OW = OW;
    if (random_) seed_.draw(attrs_, rng);
    return {OH, OW, s[2]};
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    const int64_t N = out.dim(0);
    std::vector<AffineMap> maps(static_cast<size_t>(N));
    if (!make_maps(ctx, maps)) {
      copy_through(out.data(), in[0]->data(), out.numel(), ctx.threads);
      return;
    }
    ops::resample_forward(run_geometry(ctx), in[0]->data(), out.data(), N, maps.data(),
                          ctx.threads);
  }

  void backward(const std::vector<const Tensor*>&, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    if (!din[0]) return;
    const int64_t N = dout.dim(0);
    std::vector<AffineMap> maps(static_cast<size_t>(N));
    if (!make_maps(ctx, maps)) {
      std::memcpy(din[0]->data(), dout.data(), sizeof(float) * dout.numel());
      return;
    }
    ops::resample_backward(run_geometry(ctx), dout.data(), din[0]->data(), N, maps.data(),
                           ctx.threads);
  }

 protected:
  // Called by build, with geom_'s input size set: the output size.
  virtual std::pair<int64_t, int64_t> configure(int64_t H, int64_t W) { return {H, W}; }
  // Fills maps (one per image), or returns false for no change.
  virtual bool make_maps(const RunContext& ctx, std::vector<AffineMap>& maps) const = 0;
  // The geometry of this run (RandomCrop's differs between training and inference).
  virtual const ops::ResampleGeometry& run_geometry(const RunContext&) const { return geom_; }

  static bool transforms(const RunContext& ctx) { return ctx.training || ctx.augment; }
  // The u-th uniform number of image n in this run.
  float uniform(const RunContext& ctx, int64_t n, int u) const {
    return random_uniform(seed_.run_key(ctx), static_cast<uint64_t>(n) * 4 + u);
  }

  void read_fill(const Attrs& a, const char* default_mode) {
    geom_.fill = ops::parse_fill_mode(a.get_string("fill_mode", default_mode), who());
    geom_.fill_value = static_cast<float>(a.get_finite("fill_value", 0.0));
    geom_.interpolation =
        ops::parse_interpolation(a.get_string("interpolation", "bilinear"), who());
  }

  ops::ResampleGeometry geom_;
  bool random_;
  LayerSeed seed_;
};

// The window of the target's aspect ratio inside (crop) or around (pad) an
// H x W image, with Keras's rounding: top, height, left, width.
struct Window {
  double top, height, left, width;
};

Window aspect_window(int64_t H, int64_t W, int64_t h, int64_t w, bool pad) {
  const int64_t by_width = W * h / w, by_height = H * w / h;
  const int64_t wh = pad ? std::max(H, by_width) : std::min(H, by_width);
  const int64_t ww = pad ? std::max(W, by_height) : std::min(W, by_height);
  const double top = static_cast<double>((H - wh) / 2), left = static_cast<double>((W - ww) / 2);
  return {top, static_cast<double>(wh), left, static_cast<double>(ww)};
}

// A geometry reading only the window, as a crop and then a resize would.
void clamp_to(ops::ResampleGeometry& g, const Window& win) {
  g.clamp = true;
  g.y_lo = static_cast<float>(win.top);
  g.y_hi = static_cast<float>(win.top + win.height - 1);
  g.x_lo = static_cast<float>(win.left);
  g.x_hi = static_cast<float>(win.left + win.width - 1);
}

int64_t target_extent(const Attrs& a, const char* key, const std::string& who) {
  const int64_t v = a.get_int(key);
  if (v <= 0 || v > (int64_t{1} << 24))
    throw ValueError(cat(who, ": ", key, " must be a positive integer (at most 2^24), received ", v));
  return v;
}

class ResizingLayer : public ResampleLayer {
 public:
  explicit ResizingLayer(const Attrs& a) : ResampleLayer(a, false) {
    a.check_known({"height", "width", "interpolation", "crop_to_aspect_ratio",
                   "pad_to_aspect_ratio", "fill_mode", "fill_value"});
    h_ = target_extent(a, "height", who());
    w_ = target_extent(a, "width", who());
    crop_ = a.get_bool("crop_to_aspect_ratio", false);
    pad_ = a.get_bool("pad_to_aspect_ratio", false);
    if (crop_ && pad_)
      throw ValueError(cat(who(), ": crop_to_aspect_ratio and pad_to_aspect_ratio cannot both "
                                  "be true"));
    read_fill(a, "constant");
    if (geom_.fill != ops::FillMode::Constant)
      throw ValueError(cat(who(), ": fill_mode must be 'constant' (the padding of "
                                  "pad_to_aspect_ratio), received '",
                           a.get_string("fill_mode", ""), "'"));
  }

 protected:
  std::pair<int64_t, int64_t> configure(int64_t H, int64_t W) override {
    Window win{0, static_cast<double>(H), 0, static_cast<double>(W)};
    if (crop_ || pad_) win = aspect_window(H, W, h_, w_, pad_);
    map_ = ops::resize_map(win.top, win.height, win.left, win.width, h_, w_);
    // A resize reads only its window, as if cropped (or padded with the fill
    // value) first.
    clamp_to(geom_, win);
    return {h_, w_};
  }

  bool make_maps(const RunContext&, std::vector<AffineMap>& maps) const override {
    for (AffineMap& m : maps) m = map_;
    return true;
  }

 private:
  int64_t h_ = 0, w_ = 0;
  bool crop_ = false, pad_ = false;
  AffineMap map_;  // set when built
};

class RandomCropLayer : public ResampleLayer {
 public:
  explicit RandomCropLayer(const Attrs& a) : ResampleLayer(a, true) {
    a.check_known({"height", "width", "seed"});
    h_ = target_extent(a, "height", who());
    w_ = target_extent(a, "width", who());
  }

 protected:
  std::pair<int64_t, int64_t> configure(int64_t H, int64_t W) override {
    const Window win = aspect_window(H, W, h_, w_, false);
    centre_ = ops::resize_map(win.top, win.height, win.left, win.width, h_, w_);
    resize_ = geom_;
    resize_.fill = ops::FillMode::Nearest;
    resize_.OH = h_, resize_.OW = w_;
    clamp_to(resize_, win);
    crop_ = resize_;
    crop_.clamp = false;
    return {h_, w_};
  }

  // Keras: a random window in training when the image is large enough;
  // otherwise (inference, or a smaller image) the centred window resized.
  bool random_window(const RunContext& ctx) const {
    return transforms(ctx) && geom_.H >= h_ && geom_.W >= w_;
  }

  const ops::ResampleGeometry& run_geometry(const RunContext& ctx) const override {
    return random_window(ctx) ? crop_ : resize_;
  }

  bool make_maps(const RunContext& ctx, std::vector<AffineMap>& maps) const override {
    for (size_t n = 0; n < maps.size(); ++n) {
      if (!random_window(ctx)) {
        maps[n] = centre_;
        continue;
      }
      // Offsets drawn uniformly from [0, H - h] and [0, W - w], whole pixels.
      const auto offset = [&](int u, int64_t room) {
        return std::floor(uniform(ctx, static_cast<int64_t>(n), u) * static_cast<float>(room + 1));
      };
      maps[n] = AffineMap{};
      maps[n].y0 = std::min(offset(0, geom_.H - h_), static_cast<float>(geom_.H - h_));
      maps[n].x0 = std::min(offset(1, geom_.W - w_), static_cast<float>(geom_.W - w_));
    }
    return true;
  }

 private:
  int64_t h_ = 0, w_ = 0;
  AffineMap centre_;
  ops::ResampleGeometry resize_, crop_;  // set when built
};

class RandomFlipLayer : public ResampleLayer {
 public:
  explicit RandomFlipLayer(const Attrs& a) : ResampleLayer(a, true) {
    a.check_known({"mode", "seed"});
    const std::string mode = a.get_string("mode", "horizontal_and_vertical");
    horizontal_ = mode == "horizontal" || mode == "horizontal_and_vertical";
    vertical_ = mode == "vertical" || mode == "horizontal_and_vertical";
    if (!horizontal_ && !vertical_)
      throw ValueError(cat(who(), ": mode must be 'horizontal', 'vertical' or "
                                  "'horizontal_and_vertical', received '", mode, "'"));
    geom_.interpolation = ops::Interpolation::Nearest;
    geom_.fill = ops::FillMode::Nearest;
  }

 protected:
  bool make_maps(const RunContext& ctx, std::vector<AffineMap>& maps) const override {
    if (!transforms(ctx)) return false;
    for (size_t n = 0; n < maps.size(); ++n) {
      AffineMap m;
      if (horizontal_ && uniform(ctx, static_cast<int64_t>(n), 0) < 0.5f)
        m.xc = -1.f, m.x0 = static_cast<float>(geom_.W - 1);
      if (vertical_ && uniform(ctx, static_cast<int64_t>(n), 1) < 0.5f)
        m.yr = -1.f, m.y0 = static_cast<float>(geom_.H - 1);
      maps[n] = m;
    }
    return true;
  }

 private:
  bool horizontal_ = true, vertical_ = true;
};

class RandomRotationLayer : public ResampleLayer {
 public:
  explicit RandomRotationLayer(const Attrs& a) : ResampleLayer(a, true) {
    a.check_known({"factor_lower", "factor_upper", "fill_mode", "interpolation", "fill_value",
                   "seed"});
    turns_ = range(a, "factor", who());
    read_fill(a, "reflect");
  }

 protected:
  bool make_maps(const RunContext& ctx, std::vector<AffineMap>& maps) const override {
    if (!transforms(ctx)) return false;
    const double cy = (geom_.H - 1) / 2.0, cx = (geom_.W - 1) / 2.0;
    for (size_t n = 0; n < maps.size(); ++n) {
      const double angle = turns_.at(uniform(ctx, static_cast<int64_t>(n), 0)) * kTwoPi;
      const double c = std::cos(angle), s = std::sin(angle);
      // Output pixel (r, col) reads the input at the point rotated back:
      // x = cx + c (col - cx) - s (r - cy), y = cy + s (col - cx) + c (r - cy).
      AffineMap& m = maps[n];
      m.xr = static_cast<float>(-s), m.xc = static_cast<float>(c);
      m.x0 = static_cast<float>(cx - c * cx + s * cy);
      m.yr = static_cast<float>(c), m.yc = static_cast<float>(s);
      m.y0 = static_cast<float>(cy - s * cx - c * cy);
    }
    return true;
  }

 private:
  Range turns_;
};

class RandomTranslationLayer : public ResampleLayer {
 public:
  explicit RandomTranslationLayer(const Attrs& a) : ResampleLayer(a, true) {
    a.check_known({"height_lower", "height_upper", "width_lower", "width_upper", "fill_mode",
                   "interpolation", "fill_value", "seed"});
    height_ = range(a, "height", who());
    width_ = range(a, "width", who());
    for (const Range& r : {height_, width_})
      if (r.lower < -1.f || r.upper > 1.f)
        throw ValueError(cat(who(), ": height_factor and width_factor must be within [-1, 1], "
                                    "received (", r.lower, ", ", r.upper, ")"));
    read_fill(a, "reflect");
  }

 protected:
  bool make_maps(const RunContext& ctx, std::vector<AffineMap>& maps) const override {
    if (!transforms(ctx)) return false;
    for (size_t n = 0; n < maps.size(); ++n) {
      const auto i = static_cast<int64_t>(n);
      maps[n] = AffineMap{};
      maps[n].y0 = -height_.at(uniform(ctx, i, 0)) * static_cast<float>(geom_.H);
      maps[n].x0 = -width_.at(uniform(ctx, i, 1)) * static_cast<float>(geom_.W);
    }
    return true;
  }

 private:
  Range height_, width_;
};

class RandomZoomLayer : public ResampleLayer {
 public:
  explicit RandomZoomLayer(const Attrs& a) : ResampleLayer(a, true) {
    a.check_known({"height_lower", "height_upper", "width_lower", "width_upper", "fill_mode",
                   "interpolation", "fill_value", "seed"});
    height_ = range(a, "height", who());
    keep_aspect_ = !a.has("width_lower") && !a.has("width_upper");
    width_ = keep_aspect_ ? height_ : range(a, "width", who());
    for (const Range& r : {height_, width_})
      if (r.lower <= -1.f)
        throw ValueError(cat(who(), ": height_factor and width_factor must be greater than -1 "
                                    "(a zoom of 1 + factor), received (",
                             r.lower, ", ", r.upper, ")"));
    read_fill(a, "reflect");
  }

 protected:
  bool make_maps(const RunContext& ctx, std::vector<AffineMap>& maps) const override {
    if (!transforms(ctx)) return false;
    const float cy = static_cast<float>(geom_.H - 1) / 2.f;
    const float cx = static_cast<float>(geom_.W - 1) / 2.f;
    for (size_t n = 0; n < maps.size(); ++n) {
      const auto i = static_cast<int64_t>(n);
      const float zy = 1.f + height_.at(uniform(ctx, i, 0));
      const float zx = keep_aspect_ ? zy : 1.f + width_.at(uniform(ctx, i, 1));
      maps[n] = AffineMap{};
      maps[n].yr = zy, maps[n].y0 = cy * (1.f - zy);
      maps[n].xc = zx, maps[n].x0 = cx * (1.f - zx);
    }
    return true;
  }

 private:
  Range height_, width_;
  bool keep_aspect_ = true;
};

}  // namespace

std::unique_ptr<Layer> make_resizing(const Attrs& attrs) {
  return std::make_unique<ResizingLayer>(attrs);
}
std::unique_ptr<Layer> make_random_crop(const Attrs& attrs) {
  return std::make_unique<RandomCropLayer>(attrs);
}
std::unique_ptr<Layer> make_random_flip(const Attrs& attrs) {
  return std::make_unique<RandomFlipLayer>(attrs);
}
std::unique_ptr<Layer> make_random_rotation(const Attrs& attrs) {
  return std::make_unique<RandomRotationLayer>(attrs);
}
std::unique_ptr<Layer> make_random_translation(const Attrs& attrs) {
  return std::make_unique<RandomTranslationLayer>(attrs);
}
std::unique_ptr<Layer> make_random_zoom(const Attrs& attrs) {
  return std::make_unique<RandomZoomLayer>(attrs);
}

}  // namespace pyconv

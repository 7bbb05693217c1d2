// Merge layers: Add, Subtract, Multiply, Average and Maximum combine inputs
// element by element, broadcasting a size-1 dimension over the others' (a
// squeeze-and-excitation gate of shape (1, 1, C) scales an (H, W, C) map);
// Concatenate joins inputs along one axis.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "core/training.h"
#include "core/error.h"
#include "core/threads.h"
#include "graph/layer.h"
#include "graph/layers/broadcast.h"

namespace pyconv {

namespace {

enum class Op { Add, Subtract, Multiply, Average, Maximum };

Op op_of(const std::string& type) {
  if (type == "Add") return Op::Add;
  if (type == "Subtract") return Op::Subtract;
  if (type == "Multiply") return Op::Multiply;
  if (type == "Average") return Op::Average;
  return Op::Maximum;
}

class ElementwiseMerge : public Layer {
 public:
  explicit ElementwiseMerge(const Attrs& a) : Layer(a), op_(op_of(a.type())) { a.check_known({}); }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    if (op_ == Op::Subtract && inputs.size() != 2)
      throw ShapeError(cat(who(), ": expected exactly 2 inputs, received ", inputs.size()));
    if (inputs.size() < 2)
      throw ShapeError(cat(who(), ": expected at least 2 inputs, received ", inputs.size()));
    Shape out = inputs[0];
    for (const Shape& s : inputs) {
      bool ok = s.size() == out.size();
      for (size_t d = 0; ok && d < s.size(); ++d) {
        if (s[d] == out[d] || s[d] == 1) continue;
        if (out[d] == 1)
          out[d] = s[d];
        else
          ok = false;
      }
      if (!ok)
        throw ShapeError(cat(who(), ": inputs must have one shape, or size 1 where they differ "
                                    "(broadcast); received ",
                             batch_shape_str(inputs[0]), " and ", batch_shape_str(s)));
    }
    return out;
  }

  // Sums and averages need no values back; products and maxima do. A sum's
  // first input, of the output's shape, takes dout itself as its gradient:
  // in place, nothing to copy.
  BackwardReads backward_reads() const override {
    const bool linear = op_ == Op::Add || op_ == Op::Subtract || op_ == Op::Average;
    return {!linear, !linear, /*in_place=*/op_ == Op::Add || op_ == Op::Subtract};
  }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& ctx) const override {
    float* y = out.data();
    const int64_t cols = out.dim(-1), rows = out.numel() / cols;
    const float scale = op_ == Op::Average ? 1.f / static_cast<float>(in.size()) : 1.f;
    std::vector<Broadcast> views;
    for (const Tensor* x : in) views.emplace_back(out.shape(), x->shape());
    auto finish = [&](float* yr, int64_t n) {
      if (scale != 1.f)
        for (int64_t c = 0; c < n; ++c) yr[c] *= scale;
    };
    if (std::all_of(views.begin(), views.end(), [](const Broadcast& v) { return v.same(); })) {
      // No broadcast: runs of 16k values rather than rows, whose calls cost
      // more than a 32-channel row's arithmetic (a residual sum ran at half
      // a copy's speed).
      parallel_blocks(threads_for(out.numel(), ctx.threads), out.numel(), int64_t{1} << 14,
                      [&](int64_t lo, int64_t hi) {
        for (size_t k = 0; k < in.size(); ++k)
          combine_row(k, 0.f, in[k]->data() + lo, y + lo, hi - lo);
        finish(y + lo, hi - lo);
      });
      return;
    }
    in_row_blocks(rows, cols, ctx.threads, [&](int64_t r0, int64_t r1) {
      for (int64_t r = r0; r < r1; ++r) {
        float* yr = y + r * cols;
        for (size_t k = 0; k < in.size(); ++k) {
          const float* xr = in[k]->data() + views[k].row_start(r);
          if (views[k].col_broadcast())
            combine_row(k, xr[0], nullptr, yr, cols);
          else
            combine_row(k, 0.f, xr, yr, cols);
        }
        finish(yr, cols);
      }
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor& out, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& ctx) override {
    require_training("backward");
    const int64_t cols = out.dim(-1), rows = out.numel() / cols;
    std::vector<Broadcast> views;
    for (const Tensor* x : in) views.emplace_back(out.shape(), x->shape());
    auto takes_dout = [&](size_t k) {  // the common residual sum: dout itself
      return din[k] && views[k].same() && (op_ == Op::Add || (op_ == Op::Subtract && k == 0));
    };
    std::vector<float*> copies_of_dout;
    for (size_t k = 0; k < in.size(); ++k)
      if (takes_dout(k) && din[k]->data() != dout.data()) copies_of_dout.push_back(din[k]->data());
    const float* dy = dout.data();
    // One read of each block of dout for all of them.
    parallel_blocks(threads_for(out.numel(), ctx.threads), copies_of_dout.empty() ? 0 : out.numel(),
                    int64_t{1} << 16, [&](int64_t lo, int64_t hi) {
      for (float* dx : copies_of_dout)
        std::memcpy(dx + lo, dy + lo, sizeof(float) * static_cast<size_t>(hi - lo));
    });
    for (size_t k = 0; k < in.size(); ++k) {
      if (!din[k] || takes_dout(k)) continue;
      float* dx = din[k]->data();
      const Broadcast& to = views[k];
      // A broadcast input takes the sum over the rows and columns it was
      // repeated along. Its rows are shared: a small one (a squeeze-and-
      // excitation gate) is summed in a fixed number of blocks of rows, each
      // into its own copy, added in block order (the same sums for any
      // thread count); a large one on one thread.
      const int64_t size = din[k]->numel();
      const int64_t blocks =
          to.same() ? 1 : std::max<int64_t>(1, std::min<int64_t>({16, rows, out.numel() / (4 * size)}));
      std::vector<float> copies(to.same() ? 0 : static_cast<size_t>(blocks * size), 0.f);
      auto rows_into = [&](int64_t r0, int64_t r1, float* target) {
        std::vector<float> g(static_cast<size_t>(cols));
        for (int64_t r = r0; r < r1; ++r) {
          row_gradient(k, r, in, views, out, dout, g.data());
          float* d = target + to.row_start(r);
          if (to.same()) {
            std::memcpy(d, g.data(), sizeof(float) * cols);
          } else if (to.col_step() == 1) {
#pragma omp simd
            for (int64_t c = 0; c < cols; ++c) d[c] += g[c];
          } else {
            float sum = 0.f;
            for (int64_t c = 0; c < cols; ++c) sum += g[c];
            d[0] += sum;
          }
        }
      };
      if (to.same()) {
        in_row_blocks(rows, cols, ctx.threads,
                      [&](int64_t r0, int64_t r1) { rows_into(r0, r1, dx); });
        continue;
      }
      parallel_for(threads_for(rows * cols, ctx.threads), blocks, [&](int64_t b) {
        rows_into(rows * b / blocks, rows * (b + 1) / blocks, copies.data() + b * size);
      }, /*dynamic=*/true);
      std::memcpy(dx, copies.data(), sizeof(float) * static_cast<size_t>(size));
      for (int64_t b = 1; b < blocks; ++b) {
        const float* part = copies.data() + b * size;
#pragma omp simd
        for (int64_t i = 0; i < size; ++i) dx[i] += part[i];
      }
    }
  }

 private:
  // y[0, n) op= input k's row: x, or the value v repeated where x is null.
  // The operation is chosen once per row, so each loop vectorises.
  void combine_row(size_t k, float v, const float* x, float* y, int64_t n) const {
    auto apply = [&](auto op) {
      if (x) {
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) y[c] = op(y[c], x[c]);
      } else {
#pragma omp simd
        for (int64_t c = 0; c < n; ++c) y[c] = op(y[c], v);
      }
    };
    if (k == 0) return apply([](float, float b) { return b; });
    switch (op_) {
      case Op::Add:
      case Op::Average: return apply([](float a, float b) { return a + b; });
      case Op::Subtract: return apply([](float a, float b) { return a - b; });
      case Op::Multiply: return apply([](float a, float b) { return a * b; });
      case Op::Maximum: return apply([](float a, float b) { return std::max(a, b); });
    }
  }

  // body(r0, r1) over blocks of rows, on up to `threads` threads.
  template <class Body>
  static void in_row_blocks(int64_t rows, int64_t cols, int threads, Body body) {
    parallel_blocks(threads_for(rows * cols, threads), rows, /*block=*/256, body);
  }

  // g[c] = dy * d out / d (input k) along output row r.
  void row_gradient(size_t k, int64_t r, const std::vector<const Tensor*>& in,
                    const std::vector<Broadcast>& views, const Tensor& out, const Tensor& dout,
                    float* g) const {
    const int64_t cols = out.dim(-1);
    const float* dy = dout.data() + r * cols;
    // Input j's value at column c of row r.
    auto value = [&](size_t j, int64_t c) {
      return in[j]->data()[views[j].row_start(r) + views[j].col_step() * c];
    };
    switch (op_) {
      case Op::Add:
      case Op::Subtract:
      case Op::Average: {
        const float w = op_ == Op::Average ? 1.f / static_cast<float>(in.size())
                                           : (op_ == Op::Subtract && k == 1 ? -1.f : 1.f);
#pragma omp simd
        for (int64_t c = 0; c < cols; ++c) g[c] = w * dy[c];
        return;
      }
      case Op::Multiply:
        std::memcpy(g, dy, sizeof(float) * cols);
        for (size_t j = 0; j < in.size(); ++j) {
          if (j == k) continue;
          const float* xj = in[j]->data() + views[j].row_start(r);
          if (views[j].col_step() == 1) {
#pragma omp simd
            for (int64_t c = 0; c < cols; ++c) g[c] *= xj[c];
          } else {
            for (int64_t c = 0; c < cols; ++c) g[c] *= xj[0];
          }
        }
        return;
      case Op::Maximum: {
        // The first input holding the maximum takes the gradient.
        const float* y = out.data() + r * cols;
        for (int64_t c = 0; c < cols; ++c) {
          bool mine = value(k, c) == y[c];
          for (size_t j = 0; mine && j < k; ++j) mine = value(j, c) != y[c];
          g[c] = mine ? dy[c] : 0.f;
        }
        return;
      }
    }
  }

  Op op_;
};

class ConcatenateLayer : public Layer {
 public:
  explicit ConcatenateLayer(const Attrs& a) : Layer(a) {
    a.check_known({"axis"});
    axis_ = a.get_int("axis", -1);
  }

  Shape build(const std::vector<Shape>& inputs, Rng*) override {
    if (inputs.size() < 2)
      throw ShapeError(cat(who(), ": expected at least 2 inputs, received ", inputs.size()));
    const int64_t rank = static_cast<int64_t>(inputs[0].size()) + 1;  // with the batch axis
    const int64_t axis = axis_ < 0 ? axis_ + rank : axis_;
    if (axis < 1 || axis >= rank)
      throw ValueError(cat(who(), ": axis must be in [1, ", rank - 1, "] or [", -(rank - 1),
                           ", -1] for inputs of rank ", rank, " (the batch axis 0 cannot be "
                           "joined), received ", axis_));
    axis0_ = static_cast<size_t>(axis - 1);  // in per-sample shapes
    Shape out = inputs[0];
    out[axis0_] = 0;
    for (const Shape& s : inputs) {
      bool ok = s.size() == out.size();
      for (size_t d = 0; ok && d < s.size(); ++d) ok = d == axis0_ || s[d] == out[d];
      if (!ok)
        throw ShapeError(cat(who(), ": inputs must match on every axis but the concatenation "
                                    "axis ", axis, "; received ",
                             batch_shape_str(inputs[0]), " and ", batch_shape_str(s)));
      out[axis0_] = checked_add(out[axis0_], s[axis0_], who());
    }
    return out;
  }

  BackwardReads backward_reads() const override { return {false, false}; }

  void forward(const std::vector<const Tensor*>& in, Tensor& out, const RunContext& rc) const override {
    for_each_block(in, out, rc.threads, [&](size_t k, float* joined, int64_t at, int64_t n) {
      std::memcpy(joined, in[k]->data() + at, sizeof(float) * n);
    });
  }

  void backward(const std::vector<const Tensor*>& in, const Tensor&, Tensor& dout,
                const std::vector<Tensor*>& din, const RunContext& rc) override {
    require_training("backward");
    for_each_block(in, dout, rc.threads, [&](size_t k, float* joined, int64_t at, int64_t n) {
      if (din[k]) std::memcpy(din[k]->data() + at, joined, sizeof(float) * n);
    });
  }

 private:
  // The joined tensor's rows (everything before the axis) are the inputs'
  // blocks side by side: calls fn(k, where input k's block lies in a row of
  // `joined`, where that block starts in input k, its length) for every
  // block of every row. Joining channels makes many short rows (one a
  // pixel): threads take runs of rows, each row written whole in turn.
  template <class Fn>
  void for_each_block(const std::vector<const Tensor*>& parts, Tensor& joined, int threads,
                      Fn fn) const {
    int64_t outer = 1;
    for (size_t d = 0; d <= axis0_; ++d) outer *= joined.dim(static_cast<int64_t>(d));
    const int64_t row = joined.numel() / outer;
    std::vector<int64_t> block(parts.size()), start(parts.size());
    int64_t at = 0;
    for (size_t k = 0; k < parts.size(); ++k) {
      block[k] = parts[k]->numel() / outer;
      start[k] = at;
      at += block[k];
    }
    const int64_t rows_per_run = std::max<int64_t>(1, (int64_t{1} << 14) / std::max<int64_t>(row, 1));
    parallel_blocks(threads_for(joined.numel(), threads), outer, rows_per_run,
                    [&](int64_t lo, int64_t hi) {
      for (int64_t o = lo; o < hi; ++o)
        for (size_t k = 0; k < parts.size(); ++k)
          fn(k, joined.data() + o * row + start[k], o * block[k], block[k]);
    });
  }

  static int64_t checked_add(int64_t a, int64_t b, const std::string& who) {
    if (a > INT64_MAX - b) throw ValueError(cat(who, ": the joined axis is too large"));
    return a + b;
  }

  int64_t axis_ = -1;
  size_t axis0_ = 0;
};

}  // namespace

std::unique_ptr<Layer> make_merge(const Attrs& attrs) {
  return std::make_unique<ElementwiseMerge>(attrs);
}

std::unique_ptr<Layer> make_concatenate(const Attrs& attrs) {
  return std::make_unique<ConcatenateLayer>(attrs);
}

}  // namespace pyconv

#include "graph/constraints.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/training.h"
#include "graph/spec.h"

namespace pyconv {

Constraint parse_constraint(const std::string& text, const std::string& who) {
  Constraint c;
  if constexpr (!kTrainingBuilt) return c;  // constraints act only on training steps
  if (text.empty()) return c;
  const Spec spec = parse_spec(text, who);
  SpecArgs args(text, spec, who);
  if (spec.name == "non_neg") {
    c.kind = Constraint::Kind::NonNeg;
  } else if (spec.name == "max_norm" || spec.name == "unit_norm" || spec.name == "min_max_norm") {
    c.axes = args.integers("axis", {0});
    if (spec.name == "max_norm") {
      c.kind = Constraint::Kind::MaxNorm;
      c.max_value = static_cast<float>(args.number("max_value", 2.0));
    } else if (spec.name == "min_max_norm") {
      c.kind = Constraint::Kind::MinMaxNorm;
      c.min_value = static_cast<float>(args.number("min_value", 0.0));
      c.max_value = static_cast<float>(args.number("max_value", 1.0));
      c.rate = static_cast<float>(args.number("rate", 1.0));
      if (!(c.min_value <= c.max_value) || c.rate < 0.f || c.rate > 1.f)
        throw ValueError(cat(who, ": '", text, "': expected min_value <= max_value and rate in "
                                  "[0, 1]"));
    } else {
      c.kind = Constraint::Kind::UnitNorm;
    }
    if (c.min_value < 0.f || c.max_value < 0.f)
      throw ValueError(cat(who, ": '", text, "': norms must be non-negative"));
  } else {
    throw ValueError(cat(who, ": unknown constraint '", spec.name,
                         "'; expected one of 'max_norm', 'min_max_norm', 'unit_norm', "
                         "'non_neg'"));
  }
  args.check_all_used();
  return c;
}

void apply_constraint(const Constraint& c, Tensor& w) {
  float* p = w.data();
  const int64_t n = w.numel();
  if (c.kind == Constraint::Kind::None) return;
  if (c.kind == Constraint::Kind::NonNeg) {
    for (int64_t i = 0; i < n; ++i) p[i] = p[i] < 0.f ? 0.f : p[i];
    return;
  }
  // Each value's group: its index with the summed axes left out.
  const int64_t rank = w.ndim();
  std::vector<bool> summed(static_cast<size_t>(rank), false);
  for (int64_t a : c.axes) {
    const int64_t axis = a < 0 ? a + rank : a;
    if (axis < 0 || axis >= rank)
      throw ValueError(cat("constraint axis ", a, " is out of range for a weight of ", rank,
                           " dimensions"));
    summed[static_cast<size_t>(axis)] = true;
  }
  std::vector<int64_t> group_stride(static_cast<size_t>(rank), 0);
  int64_t groups = 1;
  for (int64_t d = rank - 1; d >= 0; --d)
    if (!summed[static_cast<size_t>(d)]) {
      group_stride[static_cast<size_t>(d)] = groups;
      groups *= w.dim(d);
    }
  auto group_of = [&](int64_t flat) {
    int64_t g = 0;
    for (int64_t d = rank - 1; d >= 0; --d) {
      g += (flat % w.dim(d)) * group_stride[static_cast<size_t>(d)];
      flat /= w.dim(d);
    }
    return g;
  };
  std::vector<double> norm(static_cast<size_t>(groups), 0.0);
  for (int64_t i = 0; i < n; ++i) norm[group_of(i)] += static_cast<double>(p[i]) * p[i];
  std::vector<float> factor(static_cast<size_t>(groups));
  for (int64_t g = 0; g < groups; ++g) {
    const double length = std::sqrt(norm[g]);
    double desired = 1.0;
    if (c.kind == Constraint::Kind::MaxNorm) desired = std::min<double>(length, c.max_value);
    if (c.kind == Constraint::Kind::MinMaxNorm)
      desired = c.rate * std::clamp<double>(length, c.min_value, c.max_value) +
                (1.0 - c.rate) * length;
    factor[g] = static_cast<float>(desired / (1e-7 + length));  // Keras's epsilon
  }
  for (int64_t i = 0; i < n; ++i) p[i] *= factor[group_of(i)];
}

}  // namespace pyconv

#include "graph/metrics.h"

#include <algorithm>

#include "core/error.h"

namespace pyconv {

std::vector<double> count_top_k(const Tensor& scores, const Tensor& labels,
                                const std::vector<int>& ks, const float* weights) {
  if (scores.ndim() != 2)
    throw ValueError(cat("top-k accuracy needs outputs of shape (N, classes), received ",
                         shape_str(scores.shape())));
  const int64_t n = scores.dim(0), classes = scores.dim(1);
  const bool one_hot = labels.numel() == n * classes && classes > 1;
  if (!one_hot && labels.numel() != n)
    throw ValueError(cat("top-k accuracy needs one class id or one one-hot row per sample: "
                         "expected ", n, " or ", n * classes, " label values, received ",
                         labels.numel()));
  std::vector<double> counts(ks.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const float* row = scores.data() + i * classes;
    int64_t label;
    if (one_hot) {
      const float* t = labels.data() + i * classes;
      label = std::max_element(t, t + classes) - t;
    } else {
      const float v = labels.data()[i];
      label = static_cast<int64_t>(v);
      if (!(v >= 0.f) || v >= static_cast<float>(classes) || static_cast<float>(label) != v)
        throw ValueError(cat("top-k accuracy needs class ids in [0, ", classes, "), found ", v,
                             " for sample ", i));
    }
    const float s = row[label];
    int64_t rank = 0;  // classes ranked before the label's
    for (int64_t c = 0; c < classes; ++c) rank += row[c] > s || (row[c] == s && c < label);
    const double w = weights ? weights[i] : 1.0;
    for (size_t j = 0; j < ks.size(); ++j)
      if (rank < ks[j]) counts[j] += w;
  }
  return counts;
}

}  // namespace pyconv

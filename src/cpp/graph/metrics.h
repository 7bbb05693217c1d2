// Metrics the training step computes beside the loss, where doing them in
// Python from the outputs would cost a pass over them: top-k accuracy.
#pragma once
#include <vector>

#include "core/tensor.h"

namespace pyconv {

// For each k of `ks`: the (weighted) number of samples whose label is among
// the k highest of their (N, classes) scores. Labels are class ids (N) or
// one-hot rows (N, classes), whose argmax is the label. A tie counts for the
// class of the lower index, as a stable sort ranks it. weights: one per
// sample, or null for 1. ValueError for outputs that are not (N, classes)
// or labels outside [0, classes).
std::vector<double> count_top_k(const Tensor& scores, const Tensor& labels,
                                const std::vector<int>& ks, const float* weights);

}  // namespace pyconv

// Reads pyconv-run's INPUT: one .npy or IDX file (gzip-compressed or not), or
// one or more PGM images, recognised by their first bytes, not their names.
#pragma once
#include <string>
#include <vector>

#include "array.h"

namespace pcvrun {

// PGM images are stacked into (N, height, width) and must all be one size.
Array read_input(const std::vector<std::string>& paths);

// How many samples `a` holds for a model whose samples have `per_sample`
// values: a leading batch axis over samples of that size, or one sample.
// InputError naming both shapes otherwise.
int64_t count_samples(const Array& a, const std::vector<int64_t>& sample_shape);

}  // namespace pcvrun

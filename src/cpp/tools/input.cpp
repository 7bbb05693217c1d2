#include "input.h"

#include "file.h"
#include "idx.h"
#include "npy.h"
#include "pgm.h"

namespace pcvrun {
namespace {

constexpr size_t kMaxFileBytes = size_t{1} << 31;

bool looks_like_npy(const Bytes& b) { return b.size() >= 6 && b[0] == 0x93 && b[1] == 'N'; }

Array read_one(const std::string& path) {
  const Bytes b = read_file(path, kMaxFileBytes);
  if (looks_like_npy(b)) return parse_npy(b, path);
  if (looks_like_pgm(b)) return parse_pgm(b, path);
  if (looks_like_idx(b)) return parse_idx(b, path);
  throw InputError(path + ": not a .npy, IDX or binary PGM (P5) file");
}

}  // namespace

Array read_input(const std::vector<std::string>& paths) {
  if (paths.empty()) throw InputError("no input file given");
  Array first = read_one(paths[0]);
  if (paths.size() == 1) return first;
  // Several files: PGM images of one size, stacked.
  Array all;
  all.shape = {0};
  all.shape.insert(all.shape.end(), first.shape.begin(), first.shape.end());
  all.max_value = first.max_value;
  for (size_t i = 0; i < paths.size(); ++i) {
    Array a = i == 0 ? std::move(first) : read_one(paths[i]);
    if (a.shape.size() != 2)
      throw InputError(paths[i] + ": several inputs must all be PGM images");
    if (a.shape[0] != all.shape[1] || a.shape[1] != all.shape[2])
      throw InputError(paths[i] + ": image is " + shape_str(a.shape) + ", the first was " +
                       shape_str({all.shape[1], all.shape[2]}));
    if (a.max_value != all.max_value)  // --scale divides all by one maxval
      throw InputError(paths[i] + ": PGM maxval differs from the first image's");
    all.data.insert(all.data.end(), a.data.begin(), a.data.end());
    ++all.shape[0];
  }
  return all;
}

int64_t count_samples(const Array& a, const std::vector<int64_t>& sample_shape) {
  int64_t per_sample = 1;
  for (int64_t d : sample_shape) per_sample *= d;
  const int64_t total = static_cast<int64_t>(a.data.size());
  int64_t rest = 1;  // values per entry of the first axis
  for (size_t i = 1; i < a.shape.size(); ++i) rest *= a.shape[i];
  if (!a.shape.empty() && rest == per_sample && a.shape[0] > 0) return a.shape[0];
  if (total == per_sample) return 1;
  throw InputError("input of shape " + shape_str(a.shape) + " does not fit the model's input " +
                   shape_str(sample_shape) + " per sample");
}

}  // namespace pcvrun

// Weight initializers with Keras 3's names, arguments and defaults:
//   zeros, ones, constant(value)
//   random_normal(mean=0, stddev=0.05), random_uniform(minval=-0.05, maxval=0.05),
//   truncated_normal(mean=0, stddev=0.05)      (redrawn beyond 2 stddev)
//   variance_scaling(scale=1, mode=fan_in|fan_out|fan_avg,
//                    distribution=truncated_normal|untruncated_normal|uniform)
//   glorot_*, he_*, lecun_* (_uniform, _normal): variance_scaling presets
//   orthogonal(gain=1)  identity(gain=1)       (2-D: rows = all axes but the last)
// Each takes seed=N: the tensor's values then come from that seed alone.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <variant>
#include <vector>

#include "core/error.h"
#include "core/training.h"
#include "graph/layer.h"
#include "graph/spec.h"

namespace pyconv {

namespace {

float truncated(Rng& rng) {  // a unit normal redrawn beyond 2
  float v;
  do v = rng.normal();
  while (std::fabs(v) > 2.f);
  return v;
}

// Orthonormal rows (or columns, for a tall matrix) by Gram-Schmidt on normal
// values, times gain: Keras's orthogonal for a (rows, cols) view of t.
void orthogonal(Tensor& t, double gain, Rng& rng) {
  const int64_t cols = t.ndim() ? t.dim(-1) : 1, rows = t.numel() / std::max<int64_t>(cols, 1);
  const bool tall = rows > cols;
  const int64_t count = tall ? cols : rows, len = tall ? rows : cols;  // vectors to orthogonalize
  std::vector<double> v(static_cast<size_t>(count * len));
  for (double& x : v) x = rng.normal();
  for (int64_t i = 0; i < count; ++i) {
    double* a = &v[i * len];
    for (int64_t j = 0; j < i; ++j) {
      const double* b = &v[j * len];
      double dot = 0.0;
      for (int64_t k = 0; k < len; ++k) dot += a[k] * b[k];
      for (int64_t k = 0; k < len; ++k) a[k] -= dot * b[k];
    }
    double norm = 0.0;
    for (int64_t k = 0; k < len; ++k) norm += a[k] * a[k];
    norm = std::sqrt(norm);
    for (int64_t k = 0; k < len; ++k) a[k] = norm > 0 ? a[k] / norm : 0.0;
  }
  float* p = t.data();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      p[r * cols + c] = static_cast<float>(gain * (tall ? v[c * len + r] : v[r * len + c]));
}

// Keras's VarianceScaling: scale / fan, as a uniform, a normal, or a normal
// truncated at two standard deviations (0.8796 is the stddev of a unit normal
// so truncated, which Keras divides out).
void variance_scaling(Tensor& t, double scale, double fan, const std::string& distribution,
                      Rng& r) {
  float* p = t.data();
  const int64_t n = t.numel();
  const double variance = scale / std::max(1.0, fan);
  if (distribution == "uniform") {
    const float limit = static_cast<float>(std::sqrt(3.0 * variance));
    for (int64_t i = 0; i < n; ++i) p[i] = r.uniform(-limit, limit);
    return;
  }
  if (distribution == "untruncated_normal") {
    const float stddev = static_cast<float>(std::sqrt(variance));
    for (int64_t i = 0; i < n; ++i) p[i] = r.normal() * stddev;
    return;
  }
  const float stddev = static_cast<float>(std::sqrt(variance) / 0.87962566103423978);
  for (int64_t i = 0; i < n; ++i) p[i] = truncated(r) * stddev;
}

// The names without arguments that every build knows (a runtime-only build
// makes new weights only with these): true when `init` is one of them.
bool initialize_preset(Tensor& t, const std::string& init, int64_t fan_in, int64_t fan_out,
                       Rng* rng) {
  if (init == "zeros" || init == "ones") {
    if (rng) t.fill(init == "ones" ? 1.f : 0.f);
    return true;
  }
  const bool glorot = init == "glorot_uniform" || init == "glorot_normal";
  const bool he = init == "he_uniform" || init == "he_normal";
  if (!glorot && !he && init != "lecun_uniform" && init != "lecun_normal") return false;
  if (rng)
    variance_scaling(t, he ? 2.0 : 1.0, glorot ? (fan_in + fan_out) / 2.0 : double(fan_in),
                     init.find("uniform") != std::string::npos ? "uniform" : "truncated_normal",
                     *rng);
  return true;
}

}  // namespace

void initialize(Tensor& t, const std::string& init, int64_t fan_in, int64_t fan_out, Rng* rng,
                const std::string& who) {
  if (initialize_preset(t, init, fan_in, fan_out, rng)) return;
  // Arguments, and the other initializers, are for models being made to be
  // trained: a runtime-only build leaves their parsing out.
  if constexpr (!kTrainingBuilt) training_not_built("initializers other than the presets");
  const Spec spec = parse_spec(init, who);
  SpecArgs args(init, spec, who);
  const std::string& name = spec.name;
  // A seed of its own: the same values whatever else the model draws.
  const bool seeded = spec.args.count("seed") != 0;
  const double seed = args.number("seed", 0.0);
  if (seeded && (seed < 0 || seed != std::floor(seed) || seed > 9.007199254740992e15))
    throw ValueError(cat(who, ": initializer '", init, "': seed must be a non-negative integer"));
  Rng own(static_cast<uint64_t>(seed));
  Rng* r = rng && seeded ? &own : rng;
  float* p = t.data();
  const int64_t n = t.numel();

  if (name == "zeros" || name == "ones" || name == "constant") {
    const double value = name == "constant" ? args.number("value", 0.0) : name == "ones";
    args.check_all_used();
    if (r) t.fill(static_cast<float>(value));
    return;
  }
  if (name == "random_normal" || name == "truncated_normal") {
    const double mean = args.number("mean", 0.0), stddev = args.number("stddev", 0.05);
    args.check_all_used();
    if (stddev < 0) throw ValueError(cat(who, ": initializer '", init, "': stddev must be >= 0"));
    if (!r) return;
    for (int64_t i = 0; i < n; ++i)
      p[i] = static_cast<float>(mean + stddev * (name == "random_normal" ? r->normal() : truncated(*r)));
    return;
  }
  if (name == "random_uniform") {
    const double lo = args.number("minval", -0.05), hi = args.number("maxval", 0.05);
    args.check_all_used();
    if (!(lo <= hi))
      throw ValueError(cat(who, ": initializer '", init, "': minval must be <= maxval"));
    if (!r) return;
    for (int64_t i = 0; i < n; ++i) p[i] = r->uniform(static_cast<float>(lo), static_cast<float>(hi));
    return;
  }
  if (name == "orthogonal" || name == "identity") {
    const double gain = args.number("gain", 1.0);
    args.check_all_used();
    if (name == "identity" && t.ndim() != 2)
      throw ValueError(cat(who, ": the identity initializer needs a 2-D weight, received ",
                           t.ndim(), " dimensions"));
    if (!r) return;
    if (name == "orthogonal") return orthogonal(t, gain, *r);
    t.fill(0.f);
    for (int64_t i = 0; i < std::min(t.dim(0), t.dim(1)); ++i)
      p[i * t.dim(1) + i] = static_cast<float>(gain);
    return;
  }
  // Keras's VarianceScaling and its named presets: scale / fan.
  double scale = 1.0;
  std::string mode = "fan_in", distribution = "truncated_normal";
  if (name == "variance_scaling") {
    scale = args.number("scale", 1.0);
    mode = args.word("mode", "fan_in", {"fan_in", "fan_out", "fan_avg"});
    distribution =
        args.word("distribution", "truncated_normal", {"truncated_normal", "untruncated_normal",
                                                       "uniform", "normal"});
    if (!(scale > 0)) throw ValueError(cat(who, ": initializer '", init, "': scale must be > 0"));
  } else if (name == "glorot_uniform" || name == "glorot_normal" || name == "he_uniform" ||
             name == "he_normal" || name == "lecun_uniform" || name == "lecun_normal") {
    scale = name[0] == 'h' ? 2.0 : 1.0;
    mode = name[0] == 'g' ? "fan_avg" : "fan_in";
    distribution = name.find("uniform") != std::string::npos ? "uniform" : "truncated_normal";
  } else {
    throw ValueError(cat(who, ": unknown initializer '", name,
                         "'; expected one of 'glorot_uniform', 'glorot_normal', 'he_uniform', "
                         "'he_normal', 'lecun_uniform', 'lecun_normal', 'zeros', 'ones', "
                         "'constant', 'random_normal', 'random_uniform', 'truncated_normal', "
                         "'variance_scaling', 'orthogonal', 'identity'"));
  }
  args.check_all_used();
  if (!r) return;
  const double fan = mode == "fan_in" ? static_cast<double>(fan_in)
                     : mode == "fan_out" ? static_cast<double>(fan_out)
                                         : (fan_in + fan_out) / 2.0;
  variance_scaling(t, scale, fan, distribution, *r);
}

void check_weight_specs(const Attrs& attrs) {
  const auto ends_with = [](const std::string& key, const std::string& suffix) {
    return key.size() >= suffix.size() &&
           key.compare(key.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (const auto& [key, value] : attrs.values()) {
    const auto* spec = std::get_if<std::string>(&value);
    if (!spec) continue;
    if (ends_with(key, "_initializer")) {
      Tensor none({0, 0});  // two axes, no values: the arguments alone are checked
      initialize(none, *spec, 1, 1, nullptr, attrs.who());
    } else if (ends_with(key, "_constraint")) {
      parse_constraint(*spec, attrs.who());
    }
  }
}

}  // namespace pyconv

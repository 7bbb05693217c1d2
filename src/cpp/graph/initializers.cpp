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
#include "graph/layer.h"

namespace pyconv {

namespace {

// "name(key=value,...)" as the name and its arguments (values as written).
struct Spec {
  std::string name;
  std::map<std::string, std::string> args;
};

Spec parse(const std::string& init, const std::string& who) {
  Spec spec;
  const size_t open = init.find('(');
  spec.name = init.substr(0, open);
  if (open == std::string::npos) return spec;
  if (init.back() != ')')
    throw ValueError(cat(who, ": initializer '", init, "' must end with ')'"));
  const std::string body = init.substr(open + 1, init.size() - open - 2);
  size_t at = 0;
  while (at < body.size()) {
    const size_t comma = std::min(body.find(',', at), body.size());
    const std::string item = body.substr(at, comma - at);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ValueError(cat(who, ": initializer '", init, "': expected key=value, found '", item,
                           "'"));
    spec.args[item.substr(0, eq)] = item.substr(eq + 1);
    at = comma + 1;
  }
  return spec;
}

// Reads the arguments of one initializer, each checked once and by name.
class Args {
 public:
  Args(const std::string& init, const Spec& spec, const std::string& who)
      : init_(init), spec_(spec), who_(who) {}

  double number(const std::string& key, double fallback) {
    used_.push_back(key);
    const auto it = spec_.args.find(key);
    if (it == spec_.args.end()) return fallback;
    char* end = nullptr;
    const double v = std::strtod(it->second.c_str(), &end);
    if (it->second.empty() || *end != '\0' || !std::isfinite(v))
      throw ValueError(cat(who_, ": initializer '", init_, "': ", key,
                           " must be a finite number, received '", it->second, "'"));
    return v;
  }

  std::string word(const std::string& key, const std::string& fallback,
                   const std::vector<std::string>& allowed) {
    used_.push_back(key);
    const auto it = spec_.args.find(key);
    const std::string v = it == spec_.args.end() ? fallback : it->second;
    if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
      throw ValueError(cat(who_, ": initializer '", init_, "': ", key, " must be one of ", list,
                           ", received '", v, "'"));
    }
    return v;
  }

  // Any argument the initializer does not take is an error (a misspelling).
  void check_all_used() const {
    for (const auto& [key, value] : spec_.args)
      if (std::find(used_.begin(), used_.end(), key) == used_.end())
        throw ValueError(cat(who_, ": initializer '", spec_.name, "' takes no argument '", key,
                             "'"));
  }

 private:
  const std::string& init_;
  const Spec& spec_;
  const std::string& who_;
  std::vector<std::string> used_;
};

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

}  // namespace

void initialize(Tensor& t, const std::string& init, int64_t fan_in, int64_t fan_out, Rng* rng,
                const std::string& who) {
  const Spec spec = parse(init, who);
  Args args(init, spec, who);
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
  const double variance = scale / std::max(1.0, fan);
  if (distribution == "uniform") {
    const float limit = static_cast<float>(std::sqrt(3.0 * variance));
    for (int64_t i = 0; i < n; ++i) p[i] = r->uniform(-limit, limit);
    return;
  }
  if (distribution == "untruncated_normal") {
    const float stddev = static_cast<float>(std::sqrt(variance));
    for (int64_t i = 0; i < n; ++i) p[i] = r->normal() * stddev;
    return;
  }
  // Truncated at two standard deviations; 0.8796 is the stddev of a unit
  // normal so truncated, which Keras divides out.
  const float stddev = static_cast<float>(std::sqrt(variance) / 0.87962566103423978);
  for (int64_t i = 0; i < n; ++i) p[i] = truncated(*r) * stddev;
}

void check_initializers(const Attrs& attrs) {
  const std::string suffix = "_initializer";
  for (const auto& [key, value] : attrs.values()) {
    const auto* spec = std::get_if<std::string>(&value);
    if (!spec || key.size() < suffix.size() ||
        key.compare(key.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    Tensor none({0, 0});  // two axes, no values: the arguments alone are checked
    initialize(none, *spec, 1, 1, nullptr, attrs.who());
  }
}

}  // namespace pyconv

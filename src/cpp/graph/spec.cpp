#include "graph/spec.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "core/error.h"

namespace pyconv {

Spec parse_spec(const std::string& text, const std::string& who) {
  Spec spec;
  const size_t open = text.find('(');
  spec.name = text.substr(0, open);
  if (open == std::string::npos) return spec;
  if (text.back() != ')') throw ValueError(cat(who, ": '", text, "' must end with ')'"));
  const std::string body = text.substr(open + 1, text.size() - open - 2);
  size_t at = 0;
  while (at < body.size()) {
    const size_t comma = std::min(body.find(',', at), body.size());
    const std::string item = body.substr(at, comma - at);
    const size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0)
      throw ValueError(cat(who, ": '", text, "': expected key=value, found '", item, "'"));
    spec.args[item.substr(0, eq)] = item.substr(eq + 1);
    at = comma + 1;
  }
  return spec;
}

double SpecArgs::number(const std::string& key, double fallback) {
  used_.push_back(key);
  const auto it = spec_.args.find(key);
  if (it == spec_.args.end()) return fallback;
  char* end = nullptr;
  const double v = std::strtod(it->second.c_str(), &end);
  if (it->second.empty() || *end != '\0' || !std::isfinite(v))
    throw ValueError(cat(who_, ": '", text_, "': ", key, " must be a finite number, received '",
                         it->second, "'"));
  return v;
}

std::string SpecArgs::word(const std::string& key, const std::string& fallback,
                           const std::vector<std::string>& allowed) {
  used_.push_back(key);
  const auto it = spec_.args.find(key);
  const std::string v = it == spec_.args.end() ? fallback : it->second;
  if (std::find(allowed.begin(), allowed.end(), v) == allowed.end()) {
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "'" : ", '") + a + "'";
    throw ValueError(cat(who_, ": '", text_, "': ", key, " must be one of ", list,
                         ", received '", v, "'"));
  }
  return v;
}

std::vector<int64_t> SpecArgs::integers(const std::string& key,
                                        const std::vector<int64_t>& fallback) {
  used_.push_back(key);
  const auto it = spec_.args.find(key);
  if (it == spec_.args.end()) return fallback;
  std::vector<int64_t> out;
  size_t at = 0;
  const std::string& s = it->second;
  while (at <= s.size()) {
    const size_t colon = std::min(s.find(':', at), s.size());
    const std::string item = s.substr(at, colon - at);
    char* end = nullptr;
    const long long v = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || v < -64 || v > 64)
      throw ValueError(cat(who_, ": '", text_, "': ", key,
                           " must be integers separated by ':', received '", s, "'"));
    out.push_back(v);
    at = colon + 1;
  }
  return out;
}

void SpecArgs::check_all_used() const {
  for (const auto& [key, value] : spec_.args)
    if (std::find(used_.begin(), used_.end(), key) == used_.end())
      throw ValueError(cat(who_, ": '", spec_.name, "' takes no argument '", key, "'"));
}

}  // namespace pyconv

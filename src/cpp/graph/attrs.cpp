#include "graph/attrs.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace pyconv {

namespace {
const char* kind(const AttrValue& v) {
  switch (v.index()) {
    case 0: return "a bool";
    case 1: return "an integer";
    case 2: return "a float";
    case 3: return "a string";
    default: return "a list";
  }
}
}  // namespace

std::string Attrs::type() const {
  auto it = values_.find("type");
  return it != values_.end() && std::holds_alternative<std::string>(it->second)
             ? std::get<std::string>(it->second)
             : "";
}

std::string Attrs::name() const {
  auto it = values_.find("name");
  if (it != values_.end() && std::holds_alternative<std::string>(it->second))
    return std::get<std::string>(it->second);
  return type();
}

std::string Attrs::who() const {
  const std::string t = type(), n = name();
  return n == t || n.empty() ? t : cat(t, " '", n, "'");
}

const AttrValue& Attrs::at(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) throw ValueError(cat(who(), ": missing required argument '", key, "'"));
  return it->second;
}

int64_t Attrs::get_int(const std::string& key) const {
  const AttrValue& v = at(key);
  if (!std::holds_alternative<int64_t>(v))
    throw TypeError(cat(who(), ": '", key, "' must be an integer, received ", kind(v)));
  return std::get<int64_t>(v);
}

int64_t Attrs::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}

double Attrs::get_float(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  const AttrValue& v = at(key);
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  if (std::holds_alternative<int64_t>(v)) return static_cast<double>(std::get<int64_t>(v));
  throw TypeError(cat(who(), ": '", key, "' must be a number, received ", kind(v)));
}

double Attrs::get_finite(const std::string& key, double fallback) const {
  const double v = get_float(key, fallback);
  if (!std::isfinite(v)) throw ValueError(cat(who(), ": ", key, " must be finite, received ", v));
  return v;
}

bool Attrs::get_bool(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const AttrValue& v = at(key);
  if (!std::holds_alternative<bool>(v))
    throw TypeError(cat(who(), ": '", key, "' must be True or False, received ", kind(v)));
  return std::get<bool>(v);
}

std::string Attrs::get_string(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  const AttrValue& v = at(key);
  if (!std::holds_alternative<std::string>(v))
    throw TypeError(cat(who(), ": '", key, "' must be a string, received ", kind(v)));
  return std::get<std::string>(v);
}

std::vector<int64_t> Attrs::get_int_list(const std::string& key) const {
  const AttrValue& v = at(key);
  if (!std::holds_alternative<std::vector<int64_t>>(v))
    throw TypeError(cat(who(), ": '", key, "' must be a list of integers, received ", kind(v)));
  return std::get<std::vector<int64_t>>(v);
}

std::vector<int64_t> Attrs::get_ints(const std::string& key, size_t count,
                                     const std::vector<int64_t>& fallback) const {
  if (!has(key)) return fallback;
  const AttrValue& v = at(key);
  if (std::holds_alternative<int64_t>(v)) return std::vector<int64_t>(count, std::get<int64_t>(v));
  if (std::holds_alternative<std::vector<int64_t>>(v)) {
    const auto& list = std::get<std::vector<int64_t>>(v);
    if (list.size() != count)
      throw ValueError(cat(who(), ": '", key, "' must be an integer or a list of ", count,
                           " integers, received a list of ", list.size()));
    return list;
  }
  throw TypeError(cat(who(), ": '", key, "' must be an integer or a list of ", count,
                      " integers, received ", kind(v)));
}

void Attrs::check_known(const std::vector<std::string>& known) const {
  for (const auto& kv : values_) {
    // Every layer takes these (graph.cpp applies the activity regularizer).
    if (kv.first == "type" || kv.first == "name" || kv.first == "activity_regularizer_l1" ||
        kv.first == "activity_regularizer_l2")
      continue;
    if (std::find(known.begin(), known.end(), kv.first) == known.end()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "'" : ", '") + k + "'";
      throw ValueError(cat(who(), ": unknown argument '", kv.first, "'; expected one of ",
                           list.empty() ? std::string("none") : list));
    }
  }
}

}  // namespace pyconv

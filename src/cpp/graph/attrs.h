// Attrs: the typed attributes that describe one layer, loss or optimizer
// ({"type": "Conv2D", "filters": 32, ...}). Python sends them as dicts; the
// model file stores them; getters check types and name the owner in errors.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <variant>
#include <vector>

namespace pyconv {

using AttrValue = std::variant<bool, int64_t, double, std::string, std::vector<int64_t>>;

class Attrs {
 public:
  Attrs() = default;
  explicit Attrs(std::map<std::string, AttrValue> values) : values_(std::move(values)) {}

  void set(const std::string& key, AttrValue v) { values_[key] = std::move(v); }
  bool has(const std::string& key) const { return values_.count(key) != 0; }
  const std::map<std::string, AttrValue>& values() const { return values_; }

  std::string type() const;  // the "type" entry; "" if absent
  std::string name() const;  // the "name" entry, else the type
  // How messages refer to the owner: "Conv2D 'conv1'".
  std::string who() const;

  int64_t get_int(const std::string& key) const;  // required
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_float(const std::string& key, double fallback) const;
  // get_float, and ValueError for NaN or infinity (factors, fill values).
  double get_finite(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key, bool fallback) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // An int or a list of `count` ints (an int is repeated, as Keras does).
  std::vector<int64_t> get_ints(const std::string& key, size_t count,
                                const std::vector<int64_t>& fallback) const;
  // A list of any length (required).
  std::vector<int64_t> get_int_list(const std::string& key) const;
  // Throws ValueError for any key not in `known` (catches misspelt arguments).
  void check_known(const std::vector<std::string>& known) const;

 private:
  const AttrValue& at(const std::string& key) const;
  std::map<std::string, AttrValue> values_;
};

}  // namespace pyconv

// "name(key=value,...)": how an initializer or a constraint is written with
// its arguments in a layer's attributes (one string, so the model file, the
// C API's layer lines and Python all carry it as is).
#pragma once
#include <map>
#include <string>
#include <vector>

namespace pyconv {

struct Spec {
  std::string name;
  std::map<std::string, std::string> args;  // values as written
};

// ValueError naming `who` for a malformed spec.
Spec parse_spec(const std::string& text, const std::string& who);

// Reads a spec's arguments, each checked once and by name.
class SpecArgs {
 public:
  SpecArgs(const std::string& text, const Spec& spec, const std::string& who)
      : text_(text), spec_(spec), who_(who) {}

  double number(const std::string& key, double fallback);
  std::string word(const std::string& key, const std::string& fallback,
                   const std::vector<std::string>& allowed);
  // Integers separated by ':' ("0:1:2"), or the fallback.
  std::vector<int64_t> integers(const std::string& key, const std::vector<int64_t>& fallback);
  // Any argument not read is an error (a misspelling).
  void check_all_used() const;

 private:
  const std::string& text_;
  const Spec& spec_;
  const std::string& who_;
  std::vector<std::string> used_;
};

}  // namespace pyconv

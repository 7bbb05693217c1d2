#include "capi/layer_spec.h"

#include <charconv>
#include <cmath>
#include <string>
#include <vector>

#include "core/error.h"

namespace pyconv::capi {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Type names and keys: what a Python identifier allows, ASCII only.
bool is_identifier(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c)) return false;
  return true;
}

// Words (relu, same, he_normal, a layer name such as conv-1.a).
bool is_word(std::string_view s) {
  if (s.empty() || !is_alpha(s[0])) return false;
  for (char c : s)
    if (!is_alpha(c) && !is_digit(c) && c != '-' && c != '.') return false;
  return true;
}

// Text quoted in a message, cut to a length that still identifies it.
std::string clip(std::string_view s, size_t shown) {
  return s.size() > shown ? std::string(s.substr(0, shown)) + "..." : std::string(s);
}

std::vector<std::string_view> split_spaces(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    const size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

// The parse of one description; fail() prefixes every message with its owner.
class Parser {
 public:
  Parser(std::string_view text, std::string_view what) : text_(text), what_(what) {}

  Attrs parse() const {
    const std::vector<std::string_view> tokens = split_spaces(text_);
    if (tokens.empty()) fail("is empty; expected a type such as \"Dense units=10\"");
    if (tokens[0].find('=') != std::string_view::npos)
      fail("must start with a type before any key=value, received '", clip(tokens[0], 40), "'");
    if (!is_identifier(tokens[0])) fail("'", clip(tokens[0], 40), "' is not a type name");
    Attrs attrs;
    attrs.set("type", std::string(tokens[0]));
    for (size_t i = 1; i < tokens.size(); ++i) {
      const std::string_view t = tokens[i];
      const size_t eq = t.find('=');
      if (eq == std::string_view::npos) bad_pair(t, "no '='");
      if (t.find('=', eq + 1) != std::string_view::npos) bad_pair(t, "more than one '='");
      const std::string key(t.substr(0, eq));
      const std::string_view value = t.substr(eq + 1);
      if (key.empty()) bad_pair(t, "no key before '='");
      if (value.empty()) bad_pair(t, "no value after '='");
      if (!is_identifier(key)) fail("'", clip(key, 40), "' is not a key name");
      if (key == "type") fail("'type' is the first word, not a key");
      if (attrs.has(key)) fail("'", clip(key, 40), "' is given twice");
      attrs.set(key, parse_value(key, value));
    }
    return attrs;
  }

 private:
  template <class... Args>
  [[noreturn]] void fail(const Args&... args) const {
    throw ValueError(cat(what_, " \"", clip(text_, 80), "\": ", args...));
  }

  [[noreturn]] void bad_pair(std::string_view token, const char* problem) const {
    fail("expected key=value, received '", clip(token, 40), "' (", problem, ")");
  }

  [[noreturn]] void bad_value(std::string_view key, std::string_view v, const char* problem) const {
    fail(clip(key, 40), "=", clip(v, 40), ": ", problem);
  }

  AttrValue parse_value(const std::string& key, std::string_view v) const {
    if (v == "true" || v == "True") return true;
    if (v == "false" || v == "False") return false;
    if (v.find(',') != std::string_view::npos) return parse_list(key, v);
    if (is_integer(v)) return parse_int(key, v);
    if (is_digit(v[0]) || v[0] == '-' || v[0] == '+' || v[0] == '.') return parse_number(key, v);
    if (is_word(v)) return std::string(v);
    bad_value(key, v,
              "expected true/false, an integer, a number, a comma list of integers or a word");
  }

  static bool is_integer(std::string_view v) {
    const size_t start = v[0] == '-' || v[0] == '+' ? 1 : 0;
    if (start == v.size()) return false;
    for (size_t i = start; i < v.size(); ++i)
      if (!is_digit(v[i])) return false;
    return true;
  }

  int64_t parse_int(const std::string& key, std::string_view v) const {
    const std::string_view digits = v[0] == '+' ? v.substr(1) : v;  // from_chars takes no '+'
    int64_t out = 0;
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    if (ec == std::errc::result_out_of_range)
      bad_value(key, v, "the integer does not fit in 64 bits");
    if (ec != std::errc() || end != digits.data() + digits.size())
      bad_value(key, v, "not an integer");
    return out;
  }

  std::vector<int64_t> parse_list(const std::string& key, std::string_view v) const {
    std::vector<int64_t> out;
    size_t start = 0;
    while (true) {
      const size_t comma = v.find(',', start);
      const std::string_view item = v.substr(start, comma == std::string_view::npos
                                                        ? std::string_view::npos
                                                        : comma - start);
      if (item.empty() || !is_integer(item))
        bad_value(key, v, "expected a comma list of integers such as 3,3");
      out.push_back(parse_int(key, item));
      if (comma == std::string_view::npos) return out;
      start = comma + 1;
    }
  }

  double parse_number(const std::string& key, std::string_view v) const {
    const std::string_view digits = v[0] == '+' ? v.substr(1) : v;
    double out = 0.0;
    // from_chars, unlike strtod, ignores the C locale's decimal separator.
    const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    const bool whole = ec == std::errc() && end == digits.data() + digits.size();
    const bool two_signs = v[0] == '+' && !digits.empty() && (digits[0] == '+' || digits[0] == '-');
    if (ec == std::errc::result_out_of_range)
      bad_value(key, v, "the number is out of range");
    if (!whole || two_signs) bad_value(key, v, "not a number");
    if (!std::isfinite(out)) bad_value(key, v, "expected a finite number");
    return out;
  }

  std::string_view text_, what_;
};

}  // namespace

Attrs parse_spec(std::string_view text, std::string_view what) {
  return Parser(text, what).parse();
}

}  // namespace pyconv::capi

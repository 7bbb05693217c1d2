// The "Type key=value ..." lines of the C API: every value kind, and every
// malformed line refused with a message that names the entry and the token.
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "capi/layer_spec.h"
#include "check.h"
#include "core/error.h"

namespace {

using pyconv::AttrValue;
using pyconv::ValueError;
using pyconv::capi::parse_spec;

template <class T>
bool holds(const pyconv::Attrs& a, const std::string& key, const T& want) {
  auto it = a.values().find(key);
  return it != a.values().end() && std::holds_alternative<T>(it->second) &&
         std::get<T>(it->second) == want;
}

TEST_CASE(test_every_value_kind) {
  const pyconv::Attrs a = parse_spec(
      "  Conv2D\tfilters=32 kernel_size=3,5 padding=same use_bias=false strides=+2 "
      "name=conv-1.a  bias=-7 rate=0.25 lr=1e-3 neg=-.5 flag=True\n",
      "layer 0");
  CHECK(a.type() == "Conv2D");
  CHECK(holds(a, "filters", int64_t{32}));
  CHECK(holds(a, "kernel_size", std::vector<int64_t>{3, 5}));
  CHECK(holds(a, "padding", std::string("same")));
  CHECK(holds(a, "use_bias", false));
  CHECK(holds(a, "flag", true));
  CHECK(holds(a, "strides", int64_t{2}));
  CHECK(holds(a, "name", std::string("conv-1.a")));
  CHECK(holds(a, "bias", int64_t{-7}));
  CHECK(holds(a, "rate", 0.25));
  CHECK(holds(a, "lr", 1e-3));
  CHECK(holds(a, "neg", -0.5));
  CHECK(a.values().size() == 12);  // 11 keys and the type
}

TEST_CASE(test_type_alone_and_integer_limits) {
  CHECK(parse_spec("Flatten", "layer 2").values().size() == 1);
  const pyconv::Attrs a =
      parse_spec("Dense units=9223372036854775807 low=-9223372036854775808 l=-1,+2", "x");
  CHECK(holds(a, "units", INT64_MAX));
  CHECK(holds(a, "low", INT64_MIN));
  CHECK(holds(a, "l", std::vector<int64_t>{-1, 2}));
}

TEST_CASE(test_malformed_lines) {
  const struct {
    const char* text;
    const char* fragment;
  } bad[] = {
      {"", "is empty"},
      {" \t\n", "is empty"},
      {"filters=3 Conv2D", "must start with a type"},
      {"=3", "must start with a type"},
      {"2D", "not a type name"},
      {"Dense units", "no '='"},
      {"Dense units=", "no value after '='"},
      {"Dense =10", "no key before '='"},
      {"Dense units==10", "more than one '='"},
      {"Dense units=1=0", "more than one '='"},
      {"Dense units =10", "no '='"},
      {"Dense 1x=3", "not a key name"},
      {"Dense type=Conv2D", "'type' is the first word"},
      {"Dense units=3 units=4", "'units' is given twice"},
      {"Dense units=9223372036854775808", "does not fit in 64 bits"},
      {"Dense units=-9223372036854775809", "does not fit in 64 bits"},
      {"Conv2D kernel_size=3,99999999999999999999", "does not fit in 64 bits"},
      {"Conv2D kernel_size=3,", "comma list of integers"},
      {"Conv2D kernel_size=,3", "comma list of integers"},
      {"Conv2D kernel_size=3,,3", "comma list of integers"},
      {"Conv2D kernel_size=3,x", "comma list of integers"},
      {"Conv2D kernel_size=1.5,2", "comma list of integers"},
      {"Dropout rate=1e999", "out of range"},
      {"Dropout rate=-inf", "finite"},
      {"Dropout rate=+-3", "not a number"},
      {"Dropout rate=0.5x", "not a number"},
      {"Dropout rate=1e", "not a number"},
      {"Dense activation=re!u", "expected true/false, an integer"},
      {"Dense activation=\"relu\"", "expected true/false, an integer"},
  };
  for (const auto& b : bad) {
    CHECK_THROWS(parse_spec(b.text, "layer 3"), ValueError, b.fragment);
    // Every message names the entry and quotes its text.
    CHECK_THROWS(parse_spec(b.text, "layer 3"), ValueError,
                 std::string("layer 3 \"") + b.text + "\": ");
  }
}

TEST_CASE(test_long_lines_are_cut_in_messages) {
  const std::string text = "Dense " + std::string(500, 'a') + "=";
  try {
    parse_spec(text, "layer 0");
    CHECK(false);
  } catch (const ValueError& e) {
    CHECK(std::string(e.what()).find("...\": ") != std::string::npos);
    CHECK(std::string(e.what()).size() < 300 + 2 * 80);
  }
}

}  // namespace

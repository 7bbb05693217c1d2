// Typed errors. Each derives from the std exception whose pybind11 translation
// is the Python exception we want (invalid_argument -> ValueError, ...).
#pragma once
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>

namespace pyconv {

// Wrong shape of an input, weight or label: Python sees pyconv.ShapeError(ValueError).
struct ShapeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// A bad argument or value (unknown name, NaN, label out of range): ValueError.
struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// A value of the wrong kind (dtype, attribute type): TypeError.
struct TypeError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};
// Reading or writing files: OSError.
struct IOError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
// A model file is corrupt or not a .pcv file (an OSError in Python, like IOError).
struct FormatError : IOError {
  using IOError::IOError;
};
// An object used in the wrong state (e.g. training before compile): RuntimeError.
struct StateError : std::logic_error {
  using std::logic_error::logic_error;
};

// The pieces of cat(), out of line: a message costs each call site a few
// calls, not a stream. Numbers are written as operator<< would write them.
void append_text(std::string& out, std::string_view text);
void append_int(std::string& out, long long v);
void append_uint(std::string& out, unsigned long long v);
void append_float(std::string& out, double v);  // %g, as a stream's default

template <class T>
void append_piece(std::string& out, const T& v) {
  if constexpr (std::is_same_v<T, char>)
    out += v;
  else if constexpr (std::is_same_v<T, bool> || (std::is_integral_v<T> && std::is_signed_v<T>))
    append_int(out, v);
  else if constexpr (std::is_integral_v<T>)
    append_uint(out, v);
  else if constexpr (std::is_floating_point_v<T>)
    append_float(out, v);
  else
    append_text(out, v);
}

// Concatenates its arguments into one message, as operator<< would print them.
template <class... Args>
std::string cat(const Args&... args) {
  std::string out;
  (append_piece(out, args), ...);
  return out;
}

}  // namespace pyconv

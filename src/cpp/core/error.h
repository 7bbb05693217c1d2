// Typed errors. Each derives from the std exception whose pybind11 translation
// is the Python exception we want (invalid_argument -> ValueError, ...).
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

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

// Concatenates its arguments with operator<< into one message.
template <class... Args>
std::string cat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}

}  // namespace pyconv

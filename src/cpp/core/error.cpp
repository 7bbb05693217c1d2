#include "core/error.h"

#include <cstdio>

namespace pyconv {

void append_text(std::string& out, std::string_view text) { out.append(text); }

void append_int(std::string& out, long long v) { out += std::to_string(v); }

void append_uint(std::string& out, unsigned long long v) { out += std::to_string(v); }

void append_float(std::string& out, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", v);
  out += buf;
}

}  // namespace pyconv

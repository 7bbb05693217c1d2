// A tiny test harness (until the project has a shared one): CHECK records failures instead of stopping, and
// check_summary() prints "N passed, N failed" and gives main's exit status.
#pragma once
#include <cstdio>

namespace check {
inline int passed = 0, failed = 0;
inline void record(bool ok, const char* expr, const char* file, int line) {
  if (ok) {
    ++passed;
  } else {
    ++failed;
    std::printf("FAIL %s:%d: %s\n", file, line, expr);
  }
}
inline int summary() {
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
}  // namespace check

#define CHECK(expr) ::check::record(static_cast<bool>(expr), #expr, __FILE__, __LINE__)

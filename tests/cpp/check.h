// A tiny test harness: TEST_CASE registers a function, CHECK records a failed
// condition without stopping the test, CHECK_THROWS expects an exception of a
// type whose message contains a fragment. run_all() runs every case and
// prints one final line "N passed, N failed" (counting test cases).
#pragma once
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

namespace pyconv::test {

struct Case {
  const char* name;
  void (*fn)();
};

inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
inline int& failures_in_case() {
  static int n = 0;
  return n;
}

struct Register {
  Register(const char* name, void (*fn)()) { cases().push_back({name, fn}); }
};

inline void fail(const char* file, int line, const std::string& what) {
  ++failures_in_case();
  std::printf("  FAILED %s:%d: %s\n", file, line, what.c_str());
}

inline int run_all() {
  int passed = 0, failed = 0;
  for (const Case& c : cases()) {
    failures_in_case() = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      fail(c.name, 0, std::string("unexpected exception: ") + e.what());
    }
    if (failures_in_case() == 0) {
      ++passed;
    } else {
      ++failed;
      std::printf("FAIL %s\n", c.name);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}

}  // namespace pyconv::test

#define PCV_TEST_CONCAT2(a, b) a##b
#define PCV_TEST_CONCAT(a, b) PCV_TEST_CONCAT2(a, b)

#define TEST_CASE(name)                                                                \
  static void name();                                                                  \
  static const pyconv::test::Register PCV_TEST_CONCAT(register_, name)(#name, name); \
  static void name()

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (!(cond)) pyconv::test::fail(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

// Expects `expr` to throw `Type` (or a subclass) with `fragment` in its message.
#define CHECK_THROWS(expr, Type, fragment)                                                   \
  do {                                                                                       \
    try {                                                                                    \
      (void)(expr);                                                                          \
      pyconv::test::fail(__FILE__, __LINE__, "no " #Type " from " #expr);                    \
    } catch (const Type& e) {                                                                \
      const std::string message = e.what();                                                  \
      if (message.find(fragment) == std::string::npos)                                       \
        pyconv::test::fail(__FILE__, __LINE__,                                               \
                           std::string(#Type " message lacks \"") + (fragment) +             \
                               "\": " + message);                                            \
    } catch (const std::exception& e) {                                                      \
      pyconv::test::fail(__FILE__, __LINE__, std::string("wrong exception from " #expr ": ") + \
                                                 e.what());                                  \
    }                                                                                        \
  } while (0)

// tanh and GELU (forward and derivative) of every ISA's activation kernels
// against double precision, walking the floats of both signs from the
// smallest normal up to where each saturates. tests/python/test_vmath.py
// samples a few mantissas per binade; this walks every $PCV_VMATH_STRIDE-th
// float (default 251: a few seconds), and with PCV_VMATH_STRIDE=1 every one
// (minutes: the figures quoted in kernels/vmath_impl.h).
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "check.h"
#include "kernels/dispatch.h"

namespace {

namespace kernels = pyconv::kernels;
using kernels::Activation;

constexpr double kTiny = 1.17549435082228751e-38;  // the smallest normal float

uint32_t stride() {
  const char* s = std::getenv("PCV_VMATH_STRIDE");
  const long v = s ? std::strtol(s, nullptr, 10) : 251;
  return v > 0 ? static_cast<uint32_t>(v) : 251;
}

double ulp_of(double want) {
  const float f = std::fabs(static_cast<float>(want));
  return std::nextafter(f, INFINITY) - f;
}

// Calls check(x, y, dx) for a block of floats at a time, every stride-th
// float with |x| in [smallest normal, up_to], both signs; dx is the
// backward pass's output for dy = 1.
template <class Check>
void walk(Activation a, float up_to, Check check) {
  const uint32_t step = stride(), block = 4096;
  uint32_t end;
  std::memcpy(&end, &up_to, 4);
  std::vector<float> x(block), y(block), dx(block), ones(block, 1.f);
  for (uint32_t sign : {0u, 0x80000000u}) {
    uint32_t bits = 0x00800000u;
    while (bits <= end) {
      int n = 0;
      for (; n < static_cast<int>(block) && bits <= end; ++n, bits += step) {
        const uint32_t b = bits | sign;
        std::memcpy(&x[n], &b, 4);
      }
      kernels::active().activation_forward_f32(a, x.data(), y.data(), n);
      kernels::active().activation_backward_f32(a, y.data(), ones.data(), dx.data(), x.data(), n);
      for (int i = 0; i < n; ++i) check(x[i], y[i], dx[i]);
    }
  }
}

struct Worst {
  double value = 0.0;
  float at = 0.f;
  void see(double v, float x) {
    if (v > value) value = v, at = x;
  }
};

void report(const std::string& isa, const char* what, const Worst& w, double bound) {
  std::printf("  %s: %s %.3g at %.9g (bound %.3g)\n", isa.c_str(), what, w.value, w.at, bound);
  if (!(w.value <= bound))
    pyconv::test::fail(__FILE__, __LINE__, isa + ": " + what + " past its bound");
}

TEST_CASE(test_tanh_over_the_floats) {
  for (const std::string& isa : kernels::available_isas()) {
    kernels::select_isa(isa);
    Worst ulps, absolute, beyond_one, negative_slope;
    walk(Activation::Tanh, 10.f, [&](float x, float y, float dx) {
      const double want = std::tanh(static_cast<double>(x)), err = std::fabs(y - want);
      absolute.see(err, x);
      if (std::fabs(want) < 0.96) ulps.see(err / ulp_of(want), x);
      beyond_one.see(std::fabs(y) - 1.0, x);  // roundings must not carry |y| past 1...
      negative_slope.see(-dx, x);             // ...where 1 - y^2 would turn negative
    });
    report(isa, "tanh ulps where |tanh| < 0.96", ulps, 4.5);
    report(isa, "tanh absolute error", absolute, 4.5e-7);
    report(isa, "tanh |y| - 1", beyond_one, 0.0);
    report(isa, "tanh -derivative", negative_slope, 0.0);
  }
}

TEST_CASE(test_gelu_over_the_floats) {
  for (const std::string& isa : kernels::available_isas()) {
    kernels::select_isa(isa);
    Worst ulps, derivative;
    walk(Activation::Gelu, 20.f, [&](float x, float y, float dx) {
      const double v = x, cdf = 0.5 * std::erfc(-v / std::sqrt(2.0));
      const double want = v * cdf;
      const double want_dx = cdf + v * std::exp(-0.5 * v * v) / std::sqrt(2.0 * M_PI);
      if (std::fabs(want) < kTiny) return;  // subnormal results flush to 0
      ulps.see(std::fabs(y - want) / ulp_of(want), x);
      derivative.see(std::fabs(dx - want_dx) / (2e-7 + 4 * ulp_of(want_dx)), x);
    });
    report(isa, "gelu ulps", ulps, 6.0);
    report(isa, "gelu derivative / (2e-7 + 4 ulp)", derivative, 1.0);
  }
}

}  // namespace

// Every float kernel table this CPU runs (AVX2 on x86-64, NEON on aarch64,
// where this test runs under qemu-aarch64) against the reference table:
// GEMM around the tile and block edges (both transposes, alpha and beta,
// bias and ReLU, pre-packed B), and one-layer models over the convolution
// paths of tests/data/conv_cases.txt (which tests/python/test_kernels.py
// reads too) and the pooling, dense and fused cases below, forward
// (training and inference) and backward, batch 1 and 3.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <random>
#include <string>
#include <vector>

#include "capi/layer_spec.h"
#include "check.h"
#include "core/training.h"
#include "graph/graph.h"
#include "kernels/dispatch.h"

namespace {

using pyconv::Graph;
using pyconv::Shape;
using pyconv::Tensor;
namespace kernels = pyconv::kernels;

std::vector<float> normal(std::mt19937& rng, size_t n) {
  std::normal_distribution<float> d;
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

// Largest |got - want| beyond tolerance (atol + rtol |want|); <= 0 passes.
double excess(const std::vector<float>& got, const std::vector<float>& want, double atol,
              double rtol) {
  double worst = got.size() == want.size() ? -1.0 : 1e30;
  for (size_t i = 0; i < got.size() && i < want.size(); ++i)
    worst = std::max(worst, std::abs(double{got[i]} - want[i]) - atol - rtol * std::abs(want[i]));
  return worst;
}

std::vector<std::string> fast_isas() {
  std::vector<std::string> out = kernels::available_isas();
  out.erase(out.begin());  // "ref"
  return out;
}

struct IsaScope {  // restores the table in use
  std::string before = kernels::active().isa;
  ~IsaScope() { kernels::select_isa(before); }
};

std::vector<float> gemm(const std::string& isa, bool ta, bool tb, int64_t M, int64_t N, int64_t K,
                        float alpha, float beta, const std::vector<float>& A,
                        const std::vector<float>& B, std::vector<float> C, bool extras, bool prepack) {
  kernels::select_isa(isa);
  const kernels::KernelTable& kt = kernels::active();
  std::vector<float> bias(static_cast<size_t>(N), 0.25f);
  Tensor packed;  // aligned, as the kernels' packed layouts need
  kernels::GemmExtras ex;
  if (extras) ex.bias = bias.data(), ex.relu = true;
  const int64_t ldb = tb ? K : N;
  if (prepack && kt.sgemm_packed_b_size(K, N) > 0) {
    packed.resize({kt.sgemm_packed_b_size(K, N)});
    kt.sgemm_pack_b(tb, K, N, B.data(), ldb, packed.data());
    ex.packed_b = packed.data();
  }
  kt.sgemm(ta, tb, M, N, K, alpha, A.data(), ta ? M : K, B.data(), ldb, beta, C.data(), N, 2, &ex);
  return C;
}

TEST_CASE(test_gemm_matches_reference) {
  IsaScope scope;
  const int64_t sizes[] = {1, 5, 6, 7, 8, 9, 15, 16, 17, 33, 119, 121, 255, 257, 1100};
  int compared = 0;
  for (const std::string& isa : fast_isas()) {
    std::mt19937 rng(3);
    for (int trial = 0; trial < 160; ++trial) {
      const int64_t M = sizes[rng() % 14], N = sizes[rng() % 15], K = sizes[rng() % 14];
      const bool ta = trial & 1, tb = trial & 2, extras = trial & 4, prepack = trial & 8;
      const float alpha = trial % 3 ? 1.f : -0.5f, beta = trial % 5 ? 0.f : 0.5f;
      const auto A = normal(rng, static_cast<size_t>(M * K)), B = normal(rng, static_cast<size_t>(K * N));
      const auto C = normal(rng, static_cast<size_t>(M * N));
      const auto want = gemm("ref", ta, tb, M, N, K, alpha, beta, A, B, C, extras, false);
      const auto got = gemm(isa, ta, tb, M, N, K, alpha, beta, A, B, C, extras, prepack);
      const double over = excess(got, want, 1e-4 * std::sqrt(double(K)), 1e-4);
      if (!(over <= 0)) {
        std::printf("  %s sgemm M=%lld N=%lld K=%lld ta=%d tb=%d extras=%d prepack=%d: %g over\n",
                    isa.c_str(), static_cast<long long>(M), static_cast<long long>(N),
                    static_cast<long long>(K), ta, tb, extras, prepack, over);
        CHECK(over <= 0);
      }
      ++compared;
    }
  }
  std::printf("  %d GEMMs compared with the reference\n", compared);
}

std::vector<float> values_of(const Tensor& t) { return {t.data(), t.data() + t.numel()}; }

// A layer's outputs: y in training and in inference, dx, and every parameter gradient
// (the last two only where the build trains).
std::vector<std::vector<float>> run_layer(const std::string& isa, const std::string& spec,
                                          const Shape& in_shape, int64_t batch, uint64_t seed) {
  kernels::select_isa(isa);
  Graph g({pyconv::capi::parse_spec(spec, "layer")}, in_shape, 1);
  std::mt19937 rng(static_cast<uint32_t>(seed));
  std::vector<std::vector<float>> values;
  std::vector<const float*> pointers;
  for (const pyconv::Param& p : g.layer(0).params())
    values.push_back(normal(rng, static_cast<size_t>(pyconv::shape_numel(p.value.shape()))));
  for (const auto& v : values) pointers.push_back(v.data());
  g.set_weights(0, pointers);
  Shape xs = in_shape;
  xs.insert(xs.begin(), batch);
  auto xv = normal(rng, static_cast<size_t>(pyconv::shape_numel(xs)));
  Tensor x = Tensor::view(xv.data(), xs);
  std::vector<std::vector<float>> out;
  out.push_back(values_of(g.forward(x, false)));
  const Tensor& y = g.forward(x, true);
  out.push_back(values_of(y));
  if (!pyconv::kTrainingBuilt) return out;  // a runtime-only build has no backward pass
  Tensor& dout = g.output_grad();
  const auto dy = normal(rng, static_cast<size_t>(y.numel()));
  std::copy(dy.begin(), dy.end(), dout.data());
  Tensor dx(xs);
  g.backward(dout, &dx);
  out.push_back(values_of(dx));
  for (const auto& p : g.layer(0).params())
    if (!p.is_state) out.push_back(values_of(p.grad));
  return out;
}

struct LayerCase {
  std::string spec;
  Shape input;
  double tolerance;
};

// tests/data/conv_cases.txt's rows as Conv2D layers on (11, 10, channels).
std::vector<LayerCase> conv_cases() {
  std::vector<LayerCase> out;
  std::ifstream in(std::string(PCV_TEST_DATA) + "/conv_cases.txt");
  for (std::string line; std::getline(in, line);) {
    line = line.substr(0, line.find('#'));
    std::istringstream fields(line);
    std::string filters, kernel, strides, padding, dilation, groups, channels;
    if (!(fields >> filters >> kernel >> strides >> padding >> dilation >> groups >> channels)) continue;
    out.push_back({"Conv2D filters=" + filters + " kernel_size=" + kernel + " strides=" + strides +
                       " padding=" + padding + " dilation_rate=" + dilation + " groups=" + groups,
                   {11, 10, std::stoll(channels)}, 1e-4});
  }
  return out;
}

// Beyond the convolution table: a fused ReLU, a channel multiplier, a
// dense layer, and test_kernels.py's pooling cases.
const LayerCase kOtherCases[] = {
    {"Conv2D filters=16 kernel_size=3,3 padding=same activation=relu", {11, 10, 16}, 1e-4},
    {"DepthwiseConv2D kernel_size=3,3 padding=same depth_multiplier=2", {11, 10, 13}, 1e-4},
    {"Dense units=70 activation=relu", {37}, 1e-4},
    {"MaxPooling2D pool_size=3,3 strides=2,2 padding=same", {9, 11, 17}, 1e-6},
    {"AveragePooling2D pool_size=3,2 strides=1,2 padding=same", {9, 11, 7}, 1e-6},
};

TEST_CASE(test_layers_match_reference) {
  IsaScope scope;
  std::vector<LayerCase> cases = conv_cases();
  CHECK(cases.size() >= 10);  // the file was found and read
  cases.insert(cases.end(), std::begin(kOtherCases), std::end(kOtherCases));
  int compared = 0;
  for (const std::string& isa : fast_isas())
    for (const LayerCase& c : cases)
      for (int64_t batch : {1, 3}) {
        // PCV_TRACE=1 names each case before it runs (a crash names none).
        if (std::getenv("PCV_TRACE")) std::printf("%s %s %lld\n", isa.c_str(), c.spec.c_str(), static_cast<long long>(batch)), std::fflush(stdout);
        const auto want = run_layer("ref", c.spec, c.input, batch, 11);
        const auto got = run_layer(isa, c.spec, c.input, batch, 11);
        const char* names[] = {"y (inference)", "y (training)", "dx", "dkernel", "dbias"};
        for (size_t k = 0; k < want.size() && k < got.size(); ++k) {
          const double over = excess(got[k], want[k], c.tolerance, c.tolerance);
          if (!(over <= 0)) {
            std::printf("  %s, \"%s\", batch %lld: %s is %g beyond tolerance\n", isa.c_str(), c.spec.c_str(),
                        static_cast<long long>(batch), names[std::min<size_t>(k, 4)], over);
            CHECK(over <= 0);
          }
        }
        ++compared;
      }
  if (fast_isas().empty()) std::printf("  only the reference kernels here: nothing compared\n");
  std::printf("  %d layer cases compared with the reference\n", compared);
}

}  // namespace

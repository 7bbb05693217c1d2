// Every kernel table this CPU runs (AVX2 on x86-64, NEON on aarch64, where
// this test runs under qemu-aarch64 with no Python) against the reference
// table "ref", on the shapes of tests/data/kernel_cases.txt, which the Python
// kernel tests read too: GEMM (both transposes, alpha and beta, beta = 0 over
// a C of NaN, bias and ReLU, B packed beforehand), one-layer models forward
// (training, and inference with the weights packed once) and backward at
// several batch sizes, LRN and the element-wise activations.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "capi/layer_spec.h"
#include "check.h"
#include "graph/graph.h"
#include "kernels/dispatch.h"
#include "ops/activation.h"

namespace {

using pyconv::Graph;
using pyconv::Shape;
using pyconv::Tensor;
namespace kernels = pyconv::kernels;

const std::string kTablePath = std::string(PCV_TEST_DATA) + "/kernel_cases.txt";
constexpr int kThreads = 2;  // GEMM rows shared by threads need two

void fail(const std::string& message) { pyconv::test::fail(__FILE__, __LINE__, message); }

// ----- the table ------------------------------------------------------------

struct Row {
  int line;
  std::string text;  // without its comment, for messages
  std::string section;
  std::vector<std::string> fields;  // after the section word
};

// Per layer section: batch sizes, tolerances (the Python tests' for these
// cases) and inputs.
struct Settings {
  const char* section;
  std::vector<int64_t> batches;
  double rtol, atol, grad_atol;  // grad_atol: for dx and parameter gradients
  float x_scale = 1.f;
  bool distinct = false;  // x a permutation of 0, 1, ...: one winner per max-pooling window
  bool kinks = false;     // x starts 0, 6, -6: where relu and relu6 bend
  // atol times the reference's root mean square (at least 1), as
  // gradcheck.assert_close_to_reference: Winograd's transforms scale float
  // rounding with the outputs (ref and AVX2 are both ~2e-5 of the output
  // scale from float64 on the 26x26x32 case).
  bool atol_scaled = false;
  // A random augmentation: it passes images through at inference and
  // transforms them in training.
  bool augments = false;
};

const Settings kLayerSections[] = {
    {"conv", {1, 3}, 1e-4, 1e-4, 1e-4},
    {"conv_inference", {1, 3}, 1e-4, 1e-4, 1e-4},
    {"conv_heavy_padding", {1, 2, 3}, 1e-4, 1e-4, 1e-4},
    {"winograd", {1, 3}, 1e-4, 1e-4, 1e-4, 1.f, false, false, true},
    {"pool", {1, 3}, 1e-6, 1e-6, 1e-6, 1.f, true},
    {"dense", {1, 2, 3, 4}, 1e-5, 1e-5, 1e-5},
    {"dense_prepacked", {1, 5, 7, 64, 130}, 1e-4, 1e-4, 1e-4},
    {"lrn", {1, 3}, 2e-6, 1e-6, 1e-6},
    {"lrn_fast", {1, 4}, 2e-6, 1e-6, 1e-6, 30.f},
    {"layer", {1, 3}, 1e-4, 1e-4, 1e-4},
    {"augment", {1, 3, 9}, 1e-4, 1e-4, 1e-4, 1.f, false, false, false, true},
};
const Settings kActivations = {"activations", {1}, 2e-6, 1e-7, 1e-6, 4.f, false, true};
// tanh's derivative, 1 - y^2, moves by 2 |y| dy where two ISAs' y differ, and
// they may differ by twice tanh's 4.1e-7 bound: 8e-6 for |dy| up to 4.5.
const Settings kTanh = {"activations", {1}, 2e-6, 1e-7, 8e-6, 4.f, false, true};
const char* const kListSections[] = {"gemm", "gemm_threads", "gemm_prepacked", "gemm_sizes",
                                     "gemm_in_cache_mn", "gemm_in_cache_k", "gemm_few_rows_n",
                                     "gemm_few_rows_k", "activations", "activation_sizes"};

bool known_section(const std::string& s) {
  for (const Settings& k : kLayerSections)
    if (s == k.section) return true;
  for (const char* k : kListSections)
    if (s == k) return true;
  return false;
}

// The whole file, read once; throws (failing every test) if it cannot be
// read, holds no rows or names an unknown section.
const std::vector<Row>& table() {
  static const std::vector<Row> all = [] {
    std::ifstream in(kTablePath);
    if (!in) throw std::runtime_error("cannot read " + kTablePath);
    std::vector<Row> out;
    int n = 0;
    for (std::string line; std::getline(in, line);) {
      ++n;
      std::istringstream words(line.substr(0, line.find('#')));
      Row r{n, "", "", {}};
      if (!(words >> r.section)) continue;
      r.text = r.section;
      for (std::string w; words >> w;) r.fields.push_back(w), r.text += " " + w;
      if (!known_section(r.section) || r.fields.empty())
        throw std::runtime_error(kTablePath + ":" + std::to_string(n) +
                                 ": unknown section or no values: " + r.text);
      out.push_back(r);
    }
    if (out.empty()) throw std::runtime_error(kTablePath + " holds no cases");
    return out;
  }();
  return all;
}

std::vector<const Row*> rows(const std::string& section) {
  std::vector<const Row*> out;
  for (const Row& r : table())
    if (r.section == section) out.push_back(&r);
  if (out.empty()) throw std::runtime_error(kTablePath + " holds no '" + section + "' rows");
  return out;
}

const Row& one_row(const std::string& section) {
  const std::vector<const Row*> r = rows(section);
  if (r.size() != 1) throw std::runtime_error(kTablePath + ": more than one '" + section + "' row");
  return *r[0];
}

std::string where(const Row& r) {
  return "kernel_cases.txt:" + std::to_string(r.line) + " \"" + r.text + "\"";
}

std::vector<int64_t> ints(const std::vector<std::string>& fields, const Row& r) {
  std::vector<int64_t> out;
  for (const std::string& f : fields) {
    size_t used = 0;
    try {
      out.push_back(std::stoll(f, &used));
    } catch (const std::exception&) {
    }
    if (used == 0 || used != f.size())
      throw std::runtime_error(where(r) + ": '" + f + "' is not an integer");
  }
  return out;
}

std::vector<int64_t> one_list(const std::string& section) {
  const Row& r = one_row(section);
  return ints(r.fields, r);
}

// ----- comparisons ----------------------------------------------------------

struct Tally {  // per ISA and kind of case: what was compared, the worst seen
  int cases = 0, arrays = 0;
  double abs = 0, ratio = 0;  // largest |got - want|, and as a share of its tolerance
  std::string closest;        // the output nearest its tolerance
};

std::string num(double v) {
  std::ostringstream s;
  s.precision(9);
  s << v;
  return s.str();
}

// Fails unless got == want within atol + rtol |want| everywhere; NaN passes
// only where the reference has NaN too. The message names the ISA, the case,
// the output and its largest difference.
void expect_close(Tally& t, const std::string& isa, const std::string& what,
                  const std::string& output, const std::vector<float>& got,
                  const std::vector<float>& want, double rtol, double atol) {
  ++t.arrays;
  const std::string name = isa + ", " + what + ": " + output;
  if (got.size() != want.size()) {
    fail(name + " has " + std::to_string(got.size()) + " values, the reference " +
         std::to_string(want.size()));
    return;
  }
  double worst_abs = 0, worst_ratio = 0;
  size_t at = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = got[i], w = want[i];
    if (g == w || (std::isnan(g) && std::isnan(w))) continue;
    const double d = std::isnan(g) || std::isnan(w) ? std::numeric_limits<double>::infinity()
                                                    : std::abs(g - w);
    const double r = d / (atol + rtol * std::abs(w));
    worst_abs = std::max(worst_abs, d);
    if (!(r <= worst_ratio)) worst_ratio = r, at = i;
  }
  t.abs = std::max(t.abs, worst_abs);
  if (worst_ratio > t.ratio) t.ratio = worst_ratio, t.closest = what + ": " + output;
  if (worst_ratio > 1)
    fail(name + " differs from the reference: largest |got - want| " + num(worst_abs) +
         "; worst at [" + std::to_string(at) + "]: got " + num(got[at]) + ", reference " +
         num(want[at]) + ", " + num(worst_ratio) + " times the tolerance (rtol " + num(rtol) +
         ", atol " + num(atol) + ")");
}

// Fails unless a and b hold the same bits (as the Python tests' assert_array_equal).
void expect_same(const std::string& isa, const std::string& what, const std::string& output,
                 const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0)
    return;
  double worst = a.size() == b.size() ? 0 : std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    worst = std::max(worst, std::abs(double{a[i]} - b[i]));
  fail(isa + ", " + what + ": " + output + ", largest difference " + num(worst));
}

void report(const std::string& isa, const char* kind, const Tally& t) {
  std::printf("  %s: %d %s, %d arrays compared; largest |got - want| %.3g; nearest its "
              "tolerance (%.3g of it): %s\n",
              isa.c_str(), t.cases, kind, t.arrays, t.abs, t.ratio,
              t.closest.empty() ? "none, all equal" : t.closest.c_str());
}

std::vector<std::string> fast_isas() {
  std::vector<std::string> out;
  for (const std::string& isa : kernels::available_isas())
    if (isa != "ref") out.push_back(isa);
  if (out.empty()) std::printf("  only the reference kernels run here: nothing compared\n");
  return out;
}

struct IsaScope {  // restores the table in use
  std::string before = kernels::active().isa;
  ~IsaScope() { kernels::select_isa(before); }
};

std::vector<float> normal(std::mt19937& rng, int64_t n, float scale = 1.f) {
  std::normal_distribution<float> d;
  std::vector<float> v(static_cast<size_t>(n));
  for (float& x : v) x = scale * d(rng);
  return v;
}

// ----- GEMM -----------------------------------------------------------------

struct Gemm {
  int64_t M, N, K;
  bool ta, tb;
  float alpha, beta;
  bool extras;       // bias and ReLU in the final pass
  float a_zeros;     // the share of A set to zero
  bool same_bits;    // B packed beforehand must give the per-call bits
  std::string from;  // the table's row or list
};

struct GemmOperands {
  std::vector<float> A, B, C, bias;
};

// The finish callback under test: v -> 2v + 1 on its block, counting how
// often each element of C is finished (exactly once is the contract).
struct Finished {
  float* C;
  int64_t ldc;
  std::vector<std::atomic<int>>* counts;
};

void finish_for_test(const void* ctx, float* c, int64_t ldc, int64_t rows, int64_t cols) {
  const Finished& f = *static_cast<const Finished*>(ctx);
  const int64_t at = c - f.C, row0 = at / f.ldc, col0 = at % f.ldc;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < cols; ++j) {
      c[r * ldc + j] = 2.f * c[r * ldc + j] + 1.f;
      (*f.counts)[static_cast<size_t>((row0 + r) * f.ldc + col0 + j)].fetch_add(1);
    }
}

// C with the active table, B packed beforehand when `prepack` (and the table packs).
std::vector<float> run_gemm(const Gemm& g, const GemmOperands& o, bool prepack,
                            int threads = kThreads) {
  const kernels::KernelTable& kt = kernels::active();
  std::vector<float> C = o.C;
  kernels::GemmExtras ex;
  std::vector<std::atomic<int>> counts(C.size());
  const Finished finished{C.data(), g.N, &counts};
  if (g.extras) {
    ex.bias = o.bias.data(), ex.relu = true;
    ex.finish = finish_for_test, ex.finish_ctx = &finished;
  }
  const int64_t ldb = g.tb ? g.K : g.N;
  Tensor packed;  // aligned, as the packed layouts need
  if (prepack && kt.sgemm_packed_b_size(g.K, g.N) > 0) {
    packed.resize({kt.sgemm_packed_b_size(g.K, g.N)});
    kt.sgemm_pack_b(g.tb, g.K, g.N, o.B.data(), ldb, packed.data());
    ex.packed_b = packed.data();
  }
  kernels::sgemm(g.ta, g.tb, g.M, g.N, g.K, g.alpha, o.A.data(), g.ta ? g.M : g.K, o.B.data(),
                 ldb, g.beta, C.data(), g.N, threads, &ex);
  if (g.extras && !std::all_of(counts.begin(), counts.end(), [](const std::atomic<int>& n) {
        return n.load() == 1;
      }))
    fail(std::string(kt.isa) + ": GemmExtras::finish did not see every element of C exactly once");
  return C;
}

void compare_gemm(Tally& t, const std::string& isa, const Gemm& g, uint32_t seed) {
  std::mt19937 rng(seed);
  GemmOperands o{normal(rng, g.M * g.K), normal(rng, g.K * g.N), normal(rng, g.M * g.N),
                 normal(rng, g.N)};
  for (float& a : o.A)
    if (std::uniform_real_distribution<float>()(rng) < g.a_zeros) a = 0.f;
  // beta == 0 must overwrite C without reading it (C may be uninitialised).
  if (g.beta == 0.f) std::fill(o.C.begin(), o.C.end(), std::numeric_limits<float>::quiet_NaN());
  std::ostringstream s;
  s << "sgemm M=" << g.M << " N=" << g.N << " K=" << g.K << " trans_a=" << g.ta
    << " trans_b=" << g.tb << " alpha=" << g.alpha << " beta=" << g.beta
    << " bias+relu+finish=" << g.extras << " (" << g.from << ")";
  const std::string what = s.str();
  kernels::select_isa("ref");
  const std::vector<float> want = run_gemm(g, o, false);
  if (!std::all_of(want.begin(), want.end(), [](float v) { return std::isfinite(v); }))
    fail("ref, " + what + ": the reference is not finite");
  kernels::select_isa(isa);
  const std::vector<float> per_call = run_gemm(g, o, false), prepacked = run_gemm(g, o, true);
  const double atol = 1e-4 * std::sqrt(double(g.K));
  expect_close(t, isa, what, "C", per_call, want, 1e-4, atol);
  expect_close(t, isa, what, "C with B packed beforehand", prepacked, want, 1e-4, atol);
  if (g.same_bits)
    expect_same(isa, what, "C with B packed beforehand is not the per-call C", prepacked, per_call);
  if (g.from == "gemm_few_rows" && g.M > 1 && !g.ta) {  // batch-1 dense layers
    Gemm one = g;
    one.M = 1;
    const GemmOperands first{{o.A.begin(), o.A.begin() + g.K}, o.B,
                             {o.C.begin(), o.C.begin() + g.N}, o.bias};
    expect_same(isa, what, "row 0 of C alone (M = 1) is not row 0 of C", run_gemm(one, first, false),
                {per_call.begin(), per_call.begin() + g.N});
  }
  if (g.from == "gemm_few_rows")  // depth chunks and column slices must not change a bit
    for (int threads : {1, 3})
      expect_same(isa, what, "C on " + std::to_string(threads) + " thread(s) is not C on " +
                                 std::to_string(kThreads), run_gemm(g, o, false, threads), per_call);
  if (g.from == "gemm_few_rows" && isa == "avx512") {  // one kernel, two vector widths
    kernels::select_isa("avx2");
    const std::vector<float> avx2 = run_gemm(g, o, false);
    kernels::select_isa(isa);
    expect_same(isa, what, "C is not the AVX2 kernel's C", per_call, avx2);
  }
  ++t.cases;
}

// The GEMMs of the table, with both transposes, alpha and beta pairs and extras.
std::vector<Gemm> gemm_cases() {
  const float ab[][2] = {{1.f, 0.f}, {0.5f, 1.f}, {-2.f, 0.25f}, {1.f, 1.f}, {0.5f, 1.5f}};
  std::vector<Gemm> out;
  std::mt19937 rng(1);  // draws sizes; the standard fixes its sequence
  const auto draw = [&rng](const std::vector<int64_t>& v) { return v[rng() % v.size()]; };
  const std::vector<int64_t> sizes = one_list("gemm_sizes");
  for (int i = 0; i < 48; ++i) {
    const int64_t m = draw(sizes), n = draw(sizes), k = draw(sizes);
    out.push_back({m, n, k, bool(i & 1), bool(i & 2), ab[i % 3][0], ab[i % 3][1], bool(i & 4), 0.f,
                   false, "gemm_sizes"});
  }
  const std::vector<int64_t> mn = one_list("gemm_in_cache_mn"), ks = one_list("gemm_in_cache_k");
  for (int i = 0; i < 32; ++i) {
    const int64_t m = draw(mn), n = draw(mn), k = draw(ks);
    out.push_back({m, n, k, bool(i & 1), bool(i & 8), ab[i % 4][0], ab[i % 4][1], bool(i & 2), 0.f,
                   false, "gemm_in_cache"});
  }
  // One to four rows of A; a quarter of them half zeros (one row skips their
  // depths), a quarter a tenth zeros (too few to skip: every depth is visited).
  int i = 0;
  for (int64_t m = 1; m <= 4; ++m)
    for (int64_t n : one_list("gemm_few_rows_n"))
      for (int64_t k : one_list("gemm_few_rows_k")) {
        const float zeros = i & 4 ? 0.f : i & 8 ? 0.1f : 0.5f;
        out.push_back({m, n, k, bool(i & 1), false, ab[i % 3][0], ab[i % 3][1], bool(i & 2),
                       zeros, false, "gemm_few_rows"});
        ++i;
      }
  // Each M N K row with both transposes and three alpha, beta pairs.
  for (const std::string section : {"gemm", "gemm_threads", "gemm_prepacked"})
    for (const Row* r : rows(section)) {
      const std::vector<int64_t> mnk = ints(r->fields, *r);
      if (mnk.size() != 3) throw std::runtime_error(where(*r) + ": expected M N K");
      for (int j = 0; j < 12; ++j)
        out.push_back({mnk[0], mnk[1], mnk[2], bool(j & 1), bool(j & 2), ab[j % 3 * 2][0],
                       ab[j % 3 * 2][1], j >= 6, 0.f, section == "gemm_prepacked", where(*r)});
    }
  return out;
}

TEST_CASE(test_gemm_matches_reference) {
  IsaScope scope;
  const std::vector<Gemm> cases = gemm_cases();
  for (const std::string& isa : fast_isas()) {
    Tally t;
    for (size_t i = 0; i < cases.size(); ++i)
      compare_gemm(t, isa, cases[i], static_cast<uint32_t>(i));
    report(isa, "GEMMs", t);
  }
}

// A batch-1 dense layer whose B passes 1 MiB (the Keras MNIST CNN's
// Dense(9216 -> 128) after ReLU): its depth chunks run on two threads at
// once, each listing its nonzero steps. Called back to back so that the
// helper is awake and the chunks overlap; every call must have the bits of
// the one-thread call (a list shared by two chunks gave wrong sums).
TEST_CASE(test_gemm_few_rows_chunks_share_nothing) {
  IsaScope scope;
  const int64_t K = 9216, N = 128;
  std::mt19937 rng(7);
  GemmOperands o{normal(rng, K), normal(rng, K * N), std::vector<float>(N), normal(rng, N)};
  for (float& a : o.A)
    if (std::uniform_real_distribution<float>()(rng) < 0.4f) a = 0.f;
  const Gemm g{1, N, K, false, false, 1.f, 0.f, true, 0.4f, false, "Dense(9216 -> 128)"};
  for (const std::string& isa : fast_isas()) {
    kernels::select_isa(isa);
    const std::vector<float> one_thread = run_gemm(g, o, false, 1);
    for (int call = 0; call < 50; ++call)
      expect_same(isa, "sgemm M=1 N=128 K=9216, call " + std::to_string(call),
                  "C on two threads is not C on one", run_gemm(g, o, false, 2), one_thread);
  }
}

// A dense row of A after a sparse one (the few-rows GEMM keeps its depth
// list between calls): the last row of a 10-column B, read as two vectors,
// must be read masked, never past B's end (AddressSanitizer watches in CI),
// and every value must be the reference's.
TEST_CASE(test_gemm_one_row_stays_inside_b) {
  IsaScope scope;
  const int64_t K = 400;
  for (const std::string& isa : fast_isas()) {
    Tally t;
    for (int64_t N : {10, 7, 33}) {
      std::mt19937 rng(static_cast<uint32_t>(N));
      GemmOperands o{normal(rng, K), normal(rng, K * N), std::vector<float>(N), normal(rng, N)};
      std::vector<float> sparse = o.A;
      std::fill(sparse.begin() + 3, sparse.end(), 0.f);
      for (const std::vector<float>* a : {&sparse, &o.A}) {
        const GemmOperands one{*a, o.B, o.C, o.bias};
        const Gemm g{1, N, K, false, false, 1.f, 0.f, true, 0.f, false, "one row"};
        kernels::select_isa("ref");
        const std::vector<float> want = run_gemm(g, one, false);
        kernels::select_isa(isa);
        expect_close(t, isa, "sgemm M=1 N=" + std::to_string(N) + " K=400, " +
                                 (a == &sparse ? "3 nonzero depths" : "every depth"),
                     "C", run_gemm(g, one, false), want, 1e-4, 1e-4 * std::sqrt(double(K)));
        ++t.cases;
      }
    }
    report(isa, "one-row GEMMs", t);
  }
}

// ----- layers ---------------------------------------------------------------

struct LayerCase {
  const Row* row;
  const Settings* settings;
  std::string shape, spec;  // as the row has them, perhaps with activation=relu added
  Shape input;
  int64_t batch;
  std::string what() const {
    return "kernel_cases.txt:" + std::to_string(row->line) + " \"" + row->section + " " + shape +
           " " + spec + "\", batch " + std::to_string(batch);
  }
};

struct LayerInputs {
  std::vector<std::vector<float>> weights[2];  // the second set replaces the first
  std::vector<float> x, dy;
  Shape x_shape;
};

std::vector<float> values_of(const Tensor& t) { return {t.data(), t.data() + t.numel()}; }

Graph build(const LayerCase& c) {
  return Graph({pyconv::capi::parse_spec(c.spec, "kernel_cases.txt layer")}, c.input, 1);
}

void set_weights(Graph& g, const std::vector<std::vector<float>>& w) {
  std::vector<const float*> pointers;
  for (const std::vector<float>& v : w) pointers.push_back(v.data());
  g.set_weights(0, pointers);
}

// The same random weights, input and output gradient for every ISA.
LayerInputs make_inputs(const LayerCase& c) {
  Graph g = build(c);
  std::mt19937 rng(static_cast<uint32_t>(c.row->line * 1000 + c.batch));
  LayerInputs in;
  for (auto& w : in.weights)
    for (const pyconv::Param& p : g.layer(0).params()) w.push_back(normal(rng, p.value.numel()));
  in.x_shape = c.input;
  in.x_shape.insert(in.x_shape.begin(), c.batch);
  in.x = normal(rng, pyconv::shape_numel(in.x_shape), c.settings->x_scale);
  if (c.settings->distinct) {
    std::iota(in.x.begin(), in.x.end(), 0.f);
    std::shuffle(in.x.begin(), in.x.end(), rng);
  }
  const float kinks[] = {0.f, 6.f, -6.f};
  if (c.settings->kinks)
    for (size_t i = 0; i < 3 && i < in.x.size(); ++i) in.x[i] = kinks[i];
  in.dy = normal(rng, c.batch * pyconv::shape_numel(g.output_shape()));
  return in;
}

struct Output {
  std::string name;
  std::vector<float> v;
  bool grad;  // dx or a parameter gradient (grad_atol)
};

// One layer on `isa`: inference twice (the second reuses what the first
// packed), training forward and backward, inference with new weights (the
// packed copy is rebuilt); for a fast ISA also inference back on "ref" with
// the graph that packed for this ISA (rebuilt, not misread).
std::vector<Output> run_layer(const std::string& isa, const LayerCase& c, const LayerInputs& in) {
  kernels::select_isa(isa);
  Graph g = build(c);
  set_weights(g, in.weights[0]);
  std::vector<float> xv = in.x;
  const Tensor x = Tensor::view(xv.data(), in.x_shape);
  std::vector<Output> out;
  out.push_back({"y (inference)", values_of(g.forward(x, false)), false});
  out.push_back({"y (inference, again)", values_of(g.forward(x, false)), false});
  out.push_back({"y (training)", values_of(g.forward(x, true)), false});
  Tensor& dout = g.output_grad();
  std::copy(in.dy.begin(), in.dy.end(), dout.data());
  Tensor dx(in.x_shape);
  g.backward(dout, &dx);
  out.push_back({"dx", values_of(dx), true});
  for (const pyconv::Param& p : g.layer(0).params())
    if (!p.is_state) out.push_back({"d" + p.name, values_of(p.grad), true});
  set_weights(g, in.weights[1]);
  out.push_back({"y (inference, new weights)", values_of(g.forward(x, false)), false});
  if (isa != "ref") {
    kernels::select_isa("ref");
    out.push_back(
        {"y (inference, new weights, back on ref)", values_of(g.forward(x, false)), false});
  }
  return out;
}

double rms(const std::vector<float>& v) {
  double sum = 0;
  for (float x : v) sum += double{x} * x;
  return v.empty() ? 0 : std::sqrt(sum / static_cast<double>(v.size()));
}

void compare_layer(Tally& t, const std::string& isa, const LayerCase& c) {
  // PCV_TRACE=1 names each case before it runs (a crash names none).
  if (std::getenv("PCV_TRACE")) {
    std::printf("%s %s\n", isa.c_str(), c.what().c_str());
    std::fflush(stdout);
  }
  const LayerInputs in = make_inputs(c);
  const std::vector<Output> want = run_layer("ref", c, in), got = run_layer(isa, c, in);
  const Settings& s = *c.settings;
  for (size_t k = 0; k < got.size(); ++k) {
    const Output& w = want[std::min(k, want.size() - 1)];  // back on ref: ref's last
    const double scale = s.atol_scaled ? std::max(1.0, rms(w.v)) : 1.0;
    expect_close(t, isa, c.what(), got[k].name, got[k].v, w.v, s.rtol,
                 scale * (got[k].grad ? s.grad_atol : s.atol));
  }
  // The packed weights give the bits of training's forward, which packs per call.
  expect_same(isa, c.what(), "y (inference, again) is not y (inference)", got[1].v, got[0].v);
  if (!s.augments)
    expect_same(isa, c.what(), "y (training) is not y (inference)", got[2].v, got[0].v);
  ++t.cases;
}

std::vector<LayerCase> layer_cases() {
  std::vector<LayerCase> out;
  for (const Settings& s : kLayerSections)
    for (const Row* r : rows(s.section)) {
      if (r->fields.size() < 2)
        throw std::runtime_error(where(*r) + ": expected a shape and a layer");
      std::string dims = r->fields[0];
      std::replace(dims.begin(), dims.end(), ',', ' ');
      std::istringstream split(dims);
      std::vector<std::string> parts;
      for (std::string d; split >> d;) parts.push_back(d);
      const Shape input = ints(parts, *r);
      std::string spec = r->fields[1];
      for (size_t i = 2; i < r->fields.size(); ++i) spec += " " + r->fields[i];
      for (int64_t batch : s.batches) {
        out.push_back({r, &s, r->fields[0], spec, input, batch});
        // test_conv_inference_prepacked_kernel runs the conv rows with ReLU.
        if (s.section == std::string("conv"))
          out.push_back({r, &s, r->fields[0], spec + " activation=relu", input, batch});
      }
    }
  return out;
}

TEST_CASE(test_layers_match_reference) {
  IsaScope scope;
  const std::vector<LayerCase> cases = layer_cases();
  const std::vector<std::string> isas = fast_isas();
  if (isas.empty())  // still build every case, so that a bad row fails here too
    for (const LayerCase& c : cases) make_inputs(c);
  for (const std::string& isa : isas) {
    Tally t;
    for (const LayerCase& c : cases) compare_layer(t, isa, c);
    report(isa, "layer runs", t);
  }
}

// ----- element-wise activations ---------------------------------------------

TEST_CASE(test_activations_match_reference) {
  IsaScope scope;
  const Row& names = one_row("activations");
  const std::vector<int64_t> sizes = one_list("activation_sizes");
  // Every element-wise activation the Activation layer knows is in the table
  // (activation_name gives "?" past the last).
  for (int a = 0;; ++a) {
    const std::string name = pyconv::ops::activation_name(static_cast<kernels::Activation>(a));
    if (name == "?") break;
    if (name != "linear" && name != "softmax" &&
        std::find(names.fields.begin(), names.fields.end(), name) == names.fields.end())
      fail(where(names) + " lacks the activation '" + name + "'");
  }
  std::vector<LayerCase> cases;
  for (const std::string& name : names.fields)
    for (int64_t size : sizes)
      cases.push_back({&names, name == "tanh" ? &kTanh : &kActivations, std::to_string(size),
                       "Activation activation=" + name, {size}, 1});
  const std::vector<std::string> isas = fast_isas();
  if (isas.empty())
    for (const LayerCase& c : cases) build(c);
  for (const std::string& isa : isas) {
    Tally t;
    for (const LayerCase& c : cases) compare_layer(t, isa, c);
    report(isa, "activation runs", t);
  }
}

// ----- dropout --------------------------------------------------------------

// Dropout's mask on every ISA equals the reference's bit for bit, over
// ranges that start and end inside a group of 32 elements (the hashes come
// a group at a time), in one call or two: an element's fate depends on its
// index and the key alone, and nothing outside the range is written.
TEST_CASE(test_dropout_matches_reference) {
  IsaScope scope;
  std::mt19937 rng(11);
  const int64_t n = 1000;
  const std::vector<float> x = normal(rng, n);
  const uint32_t threshold = 19661;  // rate 0.3 of 2^16
  auto run = [&](const std::string& isa, int64_t lo, int64_t mid, int64_t hi) {
    kernels::select_isa(isa);
    std::vector<float> y(static_cast<size_t>(n), -1.f);
    for (auto [a, b] : {std::pair{lo, mid}, std::pair{mid, hi}})
      kernels::active().dropout_f32(x.data(), y.data(), a, b, 0x12345678u, 0x9ABCDEF0u,
                                    threshold, 1.f / 0.7f);
    return y;
  };
  const std::vector<float> want = run("ref", 0, n, n);
  const auto kept = std::count_if(want.begin(), want.end(), [](float v) { return v != 0.f; });
  if (kept < 620 || kept > 780) fail("ref kept " + std::to_string(kept) + " of 1000 at rate 0.3");
  const int64_t ranges[][3] = {{0, 1000, 1000}, {3, 500, 997}, {31, 33, 64}, {17, 17, 950},
                               {64, 96, 160}, {999, 999, 1000}};
  for (const std::string& isa : kernels::available_isas())
    for (const auto& r : ranges) {
      const std::vector<float> y = run(isa, r[0], r[1], r[2]);
      for (int64_t i = 0; i < n; ++i) {
        const bool inside = i >= r[0] && i < r[2];
        if (inside ? std::memcmp(&y[i], &want[i], sizeof(float)) != 0 : y[i] != -1.f)
          fail(isa + ": dropout over [" + std::to_string(r[0]) + ", " + std::to_string(r[2]) +
               ") split at " + std::to_string(r[1]) + " differs at element " + std::to_string(i));
      }
    }
}

}  // namespace

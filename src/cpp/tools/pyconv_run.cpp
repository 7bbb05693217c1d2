// pyconv-run: native inference on a .pcv model through the C API only.
//
//   pyconv-run MODEL.pcv INPUT... [-o OUT.npy] [--threads N] [--bench N]
//              [--scale] [--top K] [--labels FILE] [--quiet]
//
// Exit status: 0 success; 1 the model failed to run; 2 bad usage or an
// unreadable, truncated or corrupt model or input file.
#include <pyconv/pyconv.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "array.h"
#include "file.h"
#include "input.h"
#include "npy.h"

namespace {

using pcvrun::Array;
using pcvrun::InputError;

constexpr int64_t kBatch = 64;  // samples per runner call: bounded scratch memory

const char kUsage[] =
    "usage: pyconv-run MODEL.pcv INPUT... [options]\n"
    "\n"
    "Runs a pyconv model on INPUT and prints each sample's predicted class and\n"
    "top scores. INPUT is one .npy file (float32, uint8 or signed integers, C\n"
    "order), one IDX file (e.g. MNIST's t10k-images-idx3-ubyte; .gz too when\n"
    "built with zlib), or one or more binary PGM (P5) images of one size. The\n"
    "first axis is the batch; a single sample may omit it. Integer data (uint8,\n"
    "PGM) is fed as its values, 0..255, unless --scale is given.\n"
    "\n"
    "options:\n"
    "  -o OUT.npy      write all outputs, (N,) + output shape, float32\n"
    "  --threads N     threads per inference (default: one per core)\n"
    "  --bench N       time N batch-1 runs; print min and p50/p90/p99 latency\n"
    "  --scale         divide integer input by its maximum (255, or a PGM's maxval)\n"
    "  --top K         scores to print per sample (default 3)\n"
    "  --labels FILE   integer labels (IDX or .npy, one per sample): print accuracy\n"
    "  --quiet         no per-sample lines\n"
    "\n"
    "exit status: 0 ok, 1 the model failed to run, 2 bad usage or input\n";

struct Options {
  std::string model, out, labels;
  std::vector<std::string> inputs;
  int threads = 0;  // 0: the library's default
  long bench = 0;
  int top = 3;
  bool scale = false, quiet = false;
};

// Exits with 2 after printing `message` (and a usage hint).
[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "pyconv-run: %s\n(pyconv-run --help for usage)\n", message.c_str());
  std::exit(2);
}

long parse_count(const std::string& flag, const char* text, long min, long max) {
  char* end = nullptr;
  const long v = std::strtol(text, &end, 10);
  if (*text == '\0' || *end != '\0' || v < min || v > max)
    usage_error(flag + " expects an integer in " + std::to_string(min) + ".." + std::to_string(max) +
                ", received '" + text + "'");
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc || argv[i + 1][0] == '\0') usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "--version") {
      std::printf("pyconv-run %s\n", pcv_version());
      std::exit(0);
    } else if (a == "-o") {
      o.out = value();
    } else if (a == "--threads") {
      o.threads = static_cast<int>(parse_count(a, value(), 1, 4096));
    } else if (a == "--bench") {
      o.bench = parse_count(a, value(), 1, 100'000'000);
    } else if (a == "--top") {
      o.top = static_cast<int>(parse_count(a, value(), 1, 1'000'000));
    } else if (a == "--labels") {
      o.labels = value();
    } else if (a == "--scale") {
      o.scale = true;
    } else if (a == "--quiet") {
      o.quiet = true;
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() < 2) usage_error("expected MODEL.pcv and at least one INPUT");
  o.model = positional[0];
  o.inputs.assign(positional.begin() + 1, positional.end());
  return o;
}

// Prints the C API's error for `what` and exits: 2 for a bad file, 1 otherwise.
[[noreturn]] void api_error(const std::string& what, pcv_status s) {
  std::fprintf(stderr, "pyconv-run: %s: %s (%s)\n", what.c_str(), pcv_last_error(),
               pcv_status_string(s));
  std::exit(s == PCV_ERR_IO || s == PCV_ERR_FORMAT ? 2 : 1);
}

std::vector<int64_t> shape_of(const pcv_model* m, bool output) {
  int64_t dims[PCV_MAX_RANK];
  int rank = 0;
  const pcv_status s = output ? pcv_model_output_shape(m, dims, &rank) : pcv_model_input_shape(m, dims, &rank);
  if (s != PCV_OK) api_error("shape query", s);
  return std::vector<int64_t>(dims, dims + rank);
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

// Indices of the k largest scores, largest first.
std::vector<int64_t> top_k(const float* scores, int64_t n, int k) {
  std::vector<int64_t> idx(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) idx[i] = i;
  const auto kk = static_cast<std::ptrdiff_t>(std::min<int64_t>(k, n));
  // Ties go to the lower class, as argmax's do, whatever k is.
  std::partial_sort(idx.begin(), idx.begin() + kk, idx.end(), [&](int64_t a, int64_t b) {
    return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
  });
  idx.resize(static_cast<size_t>(kk));
  return idx;
}

void print_predictions(const std::vector<float>& out, int64_t n, int64_t per_sample, int top) {
  for (int64_t i = 0; i < n; ++i) {
    const float* s = &out[i * per_sample];
    const std::vector<int64_t> best = top_k(s, per_sample, top);
    std::printf("%lld: class %lld  top:", static_cast<long long>(i), static_cast<long long>(best[0]));
    for (int64_t c : best) std::printf(" %lld=%.4f", static_cast<long long>(c), s[c]);
    std::printf("\n");
  }
}

// Fraction of samples whose largest score is at the label.
double accuracy(const std::vector<float>& out, int64_t n, int64_t per_sample, const Array& labels) {
  if (static_cast<int64_t>(labels.data.size()) != n)
    throw InputError("--labels holds " + std::to_string(labels.data.size()) + " values for " +
                     std::to_string(n) + " samples");
  int64_t right = 0;
  for (int64_t i = 0; i < n; ++i)
    right += top_k(&out[i * per_sample], per_sample, 1)[0] == static_cast<int64_t>(labels.data[i]);
  return static_cast<double>(right) / static_cast<double>(n);
}

// N batch-1 runs of the first sample (after a few untimed ones to warm caches).
void bench(pcv_runner* r, const float* sample, int64_t out_size, long runs) {
  std::vector<float> out(static_cast<size_t>(out_size));
  for (int i = 0; i < 3; ++i)
    if (pcv_status s = pcv_runner_predict(r, sample, 1, out.data())) api_error("predict", s);
  std::vector<double> ms(static_cast<size_t>(runs));
  for (long i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (pcv_status s = pcv_runner_predict(r, sample, 1, out.data())) api_error("predict", s);
    ms[i] = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  }
  std::sort(ms.begin(), ms.end());
  auto pct = [&](double p) { return ms[static_cast<size_t>(p / 100.0 * (runs - 1) + 0.5)]; };
  std::printf("latency over %ld batch-1 runs: min %.3f ms  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms\n",
              runs, ms.front(), pct(50), pct(90), pct(99));
}

int run(const Options& o) {
  if (o.threads > 0)
    if (pcv_status s = pcv_set_num_threads(o.threads)) api_error("--threads", s);
  Array x = pcvrun::read_input(o.inputs);  // first: a bad input is reported without a model
  pcv_model* model = nullptr;
  if (pcv_status s = pcv_model_load(o.model.c_str(), &model)) api_error(o.model, s);
  const std::vector<int64_t> in_shape = shape_of(model, false), out_shape = shape_of(model, true);
  const int64_t n = pcvrun::count_samples(x, in_shape);
  if (o.scale && x.max_value > 0)
    for (float& v : x.data) v /= x.max_value;

  pcv_runner* runner = nullptr;
  if (pcv_status s = pcv_runner_new(model, &runner)) api_error("runner", s);
  const int64_t in_size = numel(in_shape), out_size = numel(out_shape);
  std::vector<float> out(static_cast<size_t>(n * out_size));
  for (int64_t i = 0; i < n; i += kBatch) {
    const int64_t b = std::min(kBatch, n - i);
    if (pcv_status s = pcv_runner_predict(runner, &x.data[i * in_size], b, &out[i * out_size]))
      api_error("predict", s);
  }

  if (!o.quiet) print_predictions(out, n, out_size, o.top);
  if (!o.labels.empty())
    std::printf("accuracy: %.4f (%lld samples)\n", accuracy(out, n, out_size, pcvrun::read_input({o.labels})),
                static_cast<long long>(n));
  if (!o.out.empty()) {
    std::vector<int64_t> shape{n};
    shape.insert(shape.end(), out_shape.begin(), out_shape.end());
    pcvrun::write_file_atomic(o.out, pcvrun::format_npy(out.data(), shape));
  }
  if (o.bench > 0) bench(runner, x.data.data(), out_size, o.bench);
  pcv_runner_free(runner);
  pcv_model_free(model);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  try {
    return run(o);
  } catch (const InputError& e) {
    std::fprintf(stderr, "pyconv-run: %s\n", e.what());
    return 2;
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "pyconv-run: out of memory\n");
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "pyconv-run: %s\n", e.what());
    return 1;
  }
}

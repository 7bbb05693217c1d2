#include "quant/quantized_model.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>
#include <string>

#include "core/error.h"
#include "core/finite.h"
#include "core/threads.h"

namespace pyconv {

namespace {

constexpr const char* kMarker = "pyconv.quantized";

struct NodeType {
  const char* name;
  pcvm::OpType op;
};
// The node types of a quantized model's record and the op each becomes.
constexpr NodeType kNodeTypes[] = {
    {"QuantizeLinear", pcvm::kQuantize},
    {"DequantizeLinear", pcvm::kDequantize},
    {"QConv2D", pcvm::kQConv2D},
    {"QDense", pcvm::kQDense},
    {"QMaxPooling2D", pcvm::kQMaxPool2D},
    {"QAveragePooling2D", pcvm::kQAvgPool2D},
    {"QGlobalAveragePooling2D", pcvm::kQGlobalAvgPool},
    {"QLookup", pcvm::kQLookup},
    {"Reshape", pcvm::kReshape},
    {"FConv2D", pcvm::kConv2D},
    {"FDense", pcvm::kDense},
    {"FMaxPooling2D", pcvm::kMaxPool2D},
    {"FAveragePooling2D", pcvm::kAvgPool2D},
    {"FGlobalAveragePooling2D", pcvm::kGlobalAvgPool},
    {"FActivation", pcvm::kActivation},
};

constexpr const char* kActivations[] = {"linear", "relu", "relu6", "tanh",
                                        "sigmoid", "softmax", "swish", "elu"};

// A per-sample shape as (H, W, C): rank 1 is (1, 1, n), rank 2 (1, w, c).
bool to_hwc(const Shape& s, int32_t hwc[3]) {
  if (s.empty() || s.size() > 3) return false;
  int64_t d[3] = {1, 1, 1};
  std::copy(s.begin(), s.end(), d + 3 - s.size());
  for (int i = 0; i < 3; ++i) {
    if (d[i] < 1 || d[i] > (1 << 28)) return false;
    hwc[i] = static_cast<int32_t>(d[i]);
  }
  return d[0] * d[1] <= (1 << 28) && d[0] * d[1] * d[2] <= (1 << 28);  // the runtime's limit
}

// Reads one node's attributes and tensors into an op.
class NodeReader {
 public:
  NodeReader(const io::NodeRecord& n, std::map<std::string, const io::TensorRecord*>& tensors)
      : attrs_(n.attrs), tensors_(tensors), who_(cat("quantized layer '", n.attrs.name(), "'")) {}

  int32_t get(const std::string& key, int64_t lo, int64_t hi) const {
    if (!attrs_.has(key)) fail(cat("has no '", key, "'"));
    const int64_t v = attrs_.get_int(key);
    if (v < lo || v > hi) fail(cat("'", key, "' is ", v, ", outside [", lo, ", ", hi, "]"));
    return static_cast<int32_t>(v);
  }

  void pair(const std::string& key, int32_t& a, int32_t& b, int64_t lo) const {
    const std::vector<int64_t> v = attrs_.get_int_list(key);
    if (v.size() != 2 || v[0] < lo || v[1] < lo || v[0] > 4096 || v[1] > 4096)
      fail(cat("'", key, "' must be two integers in [", lo, ", 4096]"));
    a = static_cast<int32_t>(v[0]), b = static_cast<int32_t>(v[1]);
  }

  float scale() const {
    const double s = attrs_.get_float("scale", 0.0);
    if (!(s > 0.0 && s < 1e30)) fail("needs a positive, finite 'scale'");
    return static_cast<float>(s);
  }

  // The tensor quant/<name>/<what> of this dtype and shape.
  const void* tensor(const std::string& what, io::layout::DType dtype, const Shape& shape) {
    const std::string key = cat("quant/", attrs_.name(), "/", what);
    auto it = tensors_.find(key);
    if (it == tensors_.end()) fail(cat("has no tensor '", key, "'"));
    const io::TensorRecord& t = *it->second;
    if (t.dtype != dtype || t.shape != shape)
      fail(cat("tensor '", key, "' has the wrong type or shape ", shape_str(t.shape), " (expected ",
               shape_str(shape), ")"));
    tensors_.erase(it);
    return t.data;
  }

  [[noreturn]] void fail(const std::string& what) const { throw FormatError(cat(who_, " ", what)); }

 private:
  const Attrs& attrs_;
  std::map<std::string, const io::TensorRecord*>& tensors_;
  std::string who_;
};

pcvm::OpType op_type(const std::string& type, const std::string& who) {
  for (const NodeType& t : kNodeTypes)
    if (type == t.name) return t.op;
  throw FormatError(cat(who, " has type '", type, "', which is not a quantized model's layer"));
}

void read_weights(NodeReader& r, pcvm::Op& op, const Shape& kernel_shape) {
  using io::layout::kInt32;
  const Shape per_channel{op.out_c};
  if (op.type == pcvm::kConv2D || op.type == pcvm::kDense) {
    op.weight_f32 = static_cast<const float*>(r.tensor("kernel", io::layout::kFloat32, kernel_shape));
    op.bias_f32 = static_cast<const float*>(r.tensor("bias", io::layout::kFloat32, per_channel));
    return;
  }
  op.weight_i8 = static_cast<const int8_t*>(r.tensor("kernel", io::layout::kInt8, kernel_shape));
  // TFLite's int8 weights are in [-127, 127], and the kernels rely on it (a
  // sum of two -128 x -128 products would not fit int16 in the NEON one).
  for (int64_t i = 0, n = shape_numel(kernel_shape); i < n; ++i)
    if (op.weight_i8[i] == -128) r.fail("has an int8 weight of -128; quantized weights are in [-127, 127]");
  op.bias_i32 = static_cast<const int32_t*>(r.tensor("bias", kInt32, per_channel));
  op.multiplier = static_cast<const int32_t*>(r.tensor("multiplier", kInt32, per_channel));
  op.shift = static_cast<const int32_t*>(r.tensor("shift", kInt32, per_channel));
  op.in_zp = r.get("input_zero_point", -128, 127);
  op.out_zp = r.get("output_zero_point", -128, 127);
  op.act_min = r.get("activation_min", -128, 127);
  op.act_max = r.get("activation_max", op.act_min, 127);
}

void read_window(const NodeReader& r, pcvm::Op& op) {
  r.pair("kernel_size", op.kh, op.kw, 1);
  r.pair("strides", op.sh, op.sw, 1);
  op.dh = op.dw = 1;
  if (op.type == pcvm::kQConv2D || op.type == pcvm::kConv2D) r.pair("dilation_rate", op.dh, op.dw, 1);
  r.pair("pad_before", op.pad_top, op.pad_left, 0);
}

uint8_t activation_of(const Attrs& a, const NodeReader& r) {
  const std::string name = a.get_string("activation", "linear");
  for (uint8_t k = 0; k < pcvm::kActivationCount; ++k)
    if (name == kActivations[k]) return k;
  r.fail(cat("has activation '", name, "', which the micro runtime does not have"));
}

pcvm::Op read_op(const io::NodeRecord& n, const int32_t in[3],
                 std::map<std::string, const io::TensorRecord*>& tensors) {
  NodeReader r(n, tensors);
  pcvm::Op op{};
  op.type = op_type(n.attrs.type(), cat("quantized layer '", n.attrs.name(), "'"));
  op.in_h = in[0], op.in_w = in[1], op.in_c = in[2];
  int32_t out[3] = {0, 0, 0};
  if (!n.attrs.has("output_shape") || !to_hwc(n.attrs.get_int_list("output_shape"), out))
    r.fail("needs an 'output_shape' of 1 to 3 positive dimensions");
  op.out_h = out[0], op.out_w = out[1], op.out_c = out[2];
  op.groups = 1;
  switch (op.type) {
    case pcvm::kQuantize:
    case pcvm::kDequantize:
      op.scale = r.scale();
      op.in_zp = r.get("zero_point", -128, 127);
      break;
    case pcvm::kQConv2D:
    case pcvm::kConv2D:
      read_window(r, op);
      op.groups = r.get("groups", 1, op.in_c);
      if (op.in_c % op.groups || op.out_c % op.groups) r.fail("has channels not divisible by its groups");
      read_weights(r, op, {op.kh, op.kw, op.in_c / op.groups, op.out_c});
      break;
    case pcvm::kQDense:
    case pcvm::kDense:
      read_weights(r, op, {int64_t{op.in_h} * op.in_w * op.in_c, op.out_c});
      break;
    case pcvm::kQMaxPool2D:
    case pcvm::kQAvgPool2D:
    case pcvm::kMaxPool2D:
    case pcvm::kAvgPool2D:
      read_window(r, op);
      break;
    case pcvm::kQLookup:
      op.table = static_cast<const int8_t*>(r.tensor("table", io::layout::kInt8, {256}));
      break;
    default:
      break;
  }
  if (op.type == pcvm::kConv2D || op.type == pcvm::kDense || op.type == pcvm::kActivation)
    op.activation = activation_of(n.attrs, r);
  return op;
}

}  // namespace

bool QuantizedModel::is_quantized(const io::ModelRecord& r) {
  try {
    return r.meta.get_int(kMarker, 0) == 1;
  } catch (const std::invalid_argument&) {  // a corrupt file: the marker is not an integer
    throw FormatError(cat("the model's '", kMarker, "' marker must be an integer"));
  }
}

QuantizedModel::QuantizedModel(io::ModelRecord r) : record_(std::move(r)) {
  if (!is_quantized(record_)) throw FormatError("the model file is not a quantized model's");
  if (record_.input_shapes.size() != 1 || record_.outputs.size() != 1 || record_.nodes.empty())
    throw FormatError("a quantized model has one input, one output and at least one layer");
  int32_t shape[3];
  if (!to_hwc(record_.input_shapes[0], shape))
    throw FormatError("a quantized model's input has 1 to 3 dimensions");
  std::map<std::string, const io::TensorRecord*> tensors;
  for (const io::TensorRecord& t : record_.tensors) tensors.emplace(t.name, &t);
  for (size_t k = 0; k < record_.nodes.size(); ++k) {
    const io::NodeRecord& n = record_.nodes[k];
    if (n.inputs.size() != 1 || n.inputs[0] != static_cast<int32_t>(k) - 1)  // node 0: -1, the input
      throw FormatError(cat("quantized layer '", n.attrs.name(), "' must read the layer before it: "
                            "a quantized model is a chain"));
    ops_.push_back(read_op(n, shape, tensors));
    shape[0] = ops_.back().out_h, shape[1] = ops_.back().out_w, shape[2] = ops_.back().out_c;
  }
  if (record_.outputs[0] != static_cast<int32_t>(record_.nodes.size()) - 1)
    throw FormatError("a quantized model's output is its last layer");
  if (!tensors.empty())
    throw FormatError(cat("the model file has a tensor no layer uses: '", tensors.begin()->first, "'"));
  model_ = {ops_.data(), static_cast<int32_t>(ops_.size())};
  int32_t bad = -1;
  if (pcvm::check(model_, &bad) != pcvm::kOk)
    throw FormatError(cat("quantized layer '", record_.nodes.at(static_cast<size_t>(bad)).attrs.name(),
                          "' does not fit the layer before it, or has inconsistent numbers"));
  isa_ = kernels::active_int8_isa();
  kernels_ = pyconv::int8_kernels(isa_);
  if (isa_)
    for (pcvm::Op& op : ops_)
      if (op.type == pcvm::kQConv2D || op.type == pcvm::kQDense) {
        packed_.push_back(std::make_unique<PackedInt8>(pack_int8(*isa_, op)));
        op.packed = packed_.back().get();
      }
  if (isa_) {
    int32_t k = 0;
    while (k < model_.op_count && ops_[k].type != pcvm::kQDense) ++k;
    dense_first_ = k;
    while (k < model_.op_count && (ops_[k].type == pcvm::kQDense || ops_[k].type == pcvm::kReshape)) ++k;
    dense_end_ = k < model_.op_count ? k : dense_first_;  // a float output follows, always
  }
  arena_ = pcvm::arena_bytes(model_);
  banded_work_ = banded_work(model_);
  input_shape_ = record_.input_shapes[0];
  output_shape_ = record_.nodes.back().attrs.get_int_list("output_shape");
}

namespace {

// This thread's arena of at least `bytes`, 16-byte aligned; kept, so warm
// calls allocate nothing.
void* thread_arena(size_t bytes) {
  thread_local std::vector<unsigned char> t_arena;
  if (t_arena.size() < bytes + 16) t_arena.resize(bytes + 16);
  return t_arena.data() + (16 - reinterpret_cast<uintptr_t>(t_arena.data()) % 16) % 16;
}

// run_one(i, arena) for samples [0, rows), whole samples per thread, each
// thread with its own arena of `bytes`. run_one cannot fail: the model
// passed pcvm::check and the arena has its size.
template <class F>
void for_each_sample(int64_t rows, int64_t work_per_sample, int threads, size_t bytes, F&& run_one) {
  parallel_for(threads_for(rows * work_per_sample, threads), rows,
               [&](int64_t i) { run_one(i, thread_arena(bytes)); });
}

// A dense op's packed weights: the bytes between rows entering it (its
// padded depth) and its depth.
const PackedInt8& packed(const pcvm::Op& dense) { return *static_cast<const PackedInt8*>(dense.packed); }

// Zeros in columns [from, stride) of rows rows.
void zero_padding(int8_t* rows_data, int64_t rows, int64_t from, int64_t stride) {
  if (from < stride)
    for (int64_t r = 0; r < rows; ++r) std::memset(rows_data + r * stride + from, 0, static_cast<size_t>(stride - from));
}

}  // namespace

void QuantizedModel::predict(const float* x, int64_t n, float* y, int threads) const {
  const int64_t in = shape_numel(input_shape_), out = shape_numel(output_shape_);
  const size_t arena = arena_;
  if (const int64_t i = first_non_finite(x, n * in, threads); i >= 0)
    throw ValueError(cat("expected finite input values, found ", x[i], " at flat index ", i));
  const OpThreads limit(threads);  // one sample's ops split among at most these
  if (n > 1 && dense_end_ > dense_first_) return predict_in_groups(x, n, y, threads);
  if (n == 1 && threads > 1 && threads_for(banded_work_, threads) > 1) {
    std::unique_lock<std::mutex> timing(team_mutex_, std::try_to_lock);
    const int team = timing ? team_.pick(threads, 1) : threads;
    const auto start = std::chrono::steady_clock::now();
    const OpThreads team_limit(team);
    if (const RowBands* b = bands_.get(model_, threads_for(banded_work_, team)))
      predict_in_bands(x, y, *b);
    else
      pcvm::run_ops_sized(model_, 0, model_.op_count, x, y, thread_arena(arena), arena, kernels_);
    if (timing)
      team_.record(std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - start)
                       .count());
    return;
  }
  for_each_sample(n, in * 64, threads, arena, [&](int64_t i, void* base) {
    pcvm::run_ops_sized(model_, 0, model_.op_count, x + i * in, y + i * out, base, arena, kernels_);
  });
}

// One sample: its first layers' bands of rows on threads at once, each in
// its own arena, then the layers after them on the calling thread.
void QuantizedModel::predict_in_bands(const float* x, float* y, const RowBands& b) const {
  // Where every op is in bands (all left in float), their rows are the output.
  const bool all = b.end == model_.op_count;
  thread_local std::vector<int8_t> t_rows;  // the calling thread's
  if (!all && static_cast<int64_t>(t_rows.size()) < b.output_bytes)
    t_rows.resize(static_cast<size_t>(b.output_bytes));
  int8_t* rows = all ? reinterpret_cast<int8_t*>(y) : t_rows.data();
  const auto count = static_cast<int64_t>(b.bands.size());
  parallel_for(static_cast<int>(count), count, [&](int64_t i) {
    const RowBand& band = b.bands[static_cast<size_t>(i)];
    const pcvm::Model ops{band.ops.data(), b.end};
    pcvm::run_ops_sized(ops, 0, b.end, x + band.input_offset, rows + band.output_offset,
                        thread_arena(band.arena), band.arena, kernels_);
  });
  if (all) return;
  const size_t arena = arena_;
  pcvm::run_ops_sized(model_, b.end, model_.op_count, rows, y, thread_arena(arena), arena, kernels_);
}

// Samples in groups: the ops before the dense ones run per sample (threads
// taking samples), the dense ones once for the group (each reads its weights
// once for all the group's samples), and the ops after them per sample.
void QuantizedModel::predict_in_groups(const float* x, int64_t n, float* y, int threads) const {
  constexpr int64_t kGroup = 256;
  const int64_t in = shape_numel(input_shape_), out = shape_numel(output_shape_);
  const size_t arena = arena_;
  int64_t widest = 0;
  for (int32_t k = dense_first_; k < dense_end_; ++k)
    if (ops_[k].type == pcvm::kQDense)
      widest = std::max({widest, packed(ops_[k]).padded_depth, int64_t{ops_[k].out_c}});
  thread_local std::vector<int8_t> t_rows[2];  // the calling thread's; kept, so warm calls allocate nothing
  for (std::vector<int8_t>& v : t_rows)
    if (static_cast<int64_t>(v.size()) < kGroup * widest) v.resize(static_cast<size_t>(kGroup * widest));
  const PackedInt8& first = packed(ops_[dense_first_]);
  for (int64_t s0 = 0; s0 < n; s0 += kGroup) {
    const int64_t rows = std::min(kGroup, n - s0);
    int8_t *a = t_rows[0].data(), *b = t_rows[1].data();
    int64_t stride = first.padded_depth;
    for_each_sample(rows, in * 64, threads, arena, [&](int64_t i, void* base) {
      pcvm::run_ops_sized(model_, 0, dense_first_, x + (s0 + i) * in, a + i * stride, base, arena, kernels_);
    });
    zero_padding(a, rows, first.depth, stride);
    for (int32_t k = dense_first_; k < dense_end_; ++k) {
      const pcvm::Op& op = ops_[k];
      if (op.type != pcvm::kQDense) continue;  // a reshape: the same rows
      int32_t next = k + 1;
      while (next < dense_end_ && ops_[next].type != pcvm::kQDense) ++next;
      const int64_t out_stride = next < dense_end_ ? packed(ops_[next]).padded_depth : op.out_c;
      qdense_rows(op, a, stride, rows, b, out_stride);
      zero_padding(b, rows, op.out_c, out_stride);
      std::swap(a, b);
      stride = out_stride;
    }
    for_each_sample(rows, in * 64, threads, arena, [&](int64_t i, void* base) {
      pcvm::run_ops_sized(model_, dense_end_, model_.op_count, a + i * stride, y + (s0 + i) * out, base,
                          arena, kernels_);
    });
  }
}

const char* QuantizedModel::int8_kernels() const {
  return isa_ ? isa_->name : "ref";
}

}  // namespace pyconv

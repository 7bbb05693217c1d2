#include "io/model_file.h"

#include <algorithm>
#include <iterator>
#include <map>

#include "core/error.h"
#include "core/training.h"

namespace pyconv {

namespace {
// Metadata keys this file keeps for itself; the rest is the caller's.
constexpr const char* kStep = "pyconv.step";
constexpr const char* kIterations = "pyconv.optimizer_iterations";
constexpr const char* kFrozen = "pyconv.frozen_layers";

std::string param_key(const std::string& layer, const Param& p) {
  return cat(p.is_state ? "state/" : "param/", layer, "/", p.name);
}

std::string param_key(const Layer& layer, const Param& p) { return param_key(layer.name(), p); }

std::string slot_key(const Layer& layer, const Param& p, const std::string& slot) {
  return cat("optimizer/", layer.name(), "/", p.name, "/", slot);
}

// The record's tensors by name; take() hands each out once, so that a tensor
// nothing asked for is found at the end.
class TensorIndex {
 public:
  explicit TensorIndex(const io::ModelRecord& r) {
    for (const io::TensorRecord& t : r.tensors) by_name_.emplace(t.name, &t);
  }

  const io::TensorRecord& take(const std::string& name, const Shape& shape) {
    auto it = by_name_.find(name);
    if (it == by_name_.end()) throw FormatError(cat("the model file has no tensor '", name, "'"));
    const io::TensorRecord& t = *it->second;
    if (t.dtype != io::layout::kFloat32)
      throw FormatError(cat("tensor '", name, "' is not float32, as a float model's weights are"));
    if (t.shape != shape)
      throw FormatError(cat("tensor '", name, "' has shape ", shape_str(t.shape), ", the model "
                            "needs ", shape_str(shape)));
    by_name_.erase(it);
    return t;
  }

  bool has(const std::string& name) const { return by_name_.count(name) != 0; }

  // A runtime-only build has no optimizer to restore: its state is skipped.
  void skip_optimizer_state() {
    for (auto it = by_name_.begin(); it != by_name_.end();)
      it = it->first.rfind("optimizer/", 0) == 0 ? by_name_.erase(it) : std::next(it);
  }

  void expect_all_taken() const {
    if (!by_name_.empty())
      throw FormatError(cat("the model file has a tensor no layer uses: '",
                            by_name_.begin()->first, "'"));
  }

 private:
  std::map<std::string, const io::TensorRecord*> by_name_;
};

std::vector<NodeSpec> node_specs(const io::ModelRecord& r) {
  std::vector<NodeSpec> specs;
  for (const io::NodeRecord& n : r.nodes) specs.push_back({n.attrs, {n.inputs.begin(), n.inputs.end()}});
  return specs;
}

// Checks every layer's parameter shapes against the file's tensors before
// anything is allocated: a hostile file cannot make us build a model larger
// than the tensors it holds.
void check_shapes(const io::ModelRecord& r, const std::vector<NodeSpec>& specs) {
  TensorIndex index(r);
  std::vector<std::string> slots;
  if (!kTrainingBuilt) index.skip_optimizer_state();
  if (kTrainingBuilt && r.optimizer.has("type")) slots = make_optimizer(r.optimizer)->slot_names();
  std::vector<Shape> outputs;
  std::vector<std::string> names;
  for (const NodeSpec& spec : specs) {
    std::unique_ptr<Layer> layer = create_layer(spec.attrs);
    std::vector<Shape> in;
    for (int i : spec.inputs) in.push_back(i < 0 ? r.input_shapes.at(-1 - i) : outputs.at(i));
    outputs.push_back(layer->infer(in));
    // A repeated name is a shared layer's later call: its weights were taken.
    const bool again = std::find(names.begin(), names.end(), layer->name()) != names.end();
    names.push_back(layer->name());
    if (again) continue;
    for (const Param& p : layer->params()) {
      index.take(param_key(*layer, p), p.value.shape());
      if (p.is_state) continue;
      for (const std::string& s : slots)  // all of a parameter's slots, or none before a step
        if (index.has(slot_key(*layer, p, s))) index.take(slot_key(*layer, p, s), p.value.shape());
    }
  }
  index.expect_all_taken();
}
}  // namespace

namespace io {

ModelRecord to_record(const Graph& g) {
  ModelRecord r;
  r.input_shapes = g.input_shapes();
  for (size_t k = 0; k < g.size(); ++k) {
    const std::vector<int>& in = g.node_inputs(k);
    r.nodes.push_back({g.layer(k).attrs(), {in.begin(), in.end()}});
  }
  r.outputs.assign(g.outputs().begin(), g.outputs().end());
  r.loss = g.loss_attrs();
  r.optimizer = g.optimizer_attrs();
  r.meta = g.meta();
  std::vector<int64_t> frozen;
  for (size_t k = 0; k < g.size(); ++k) {
    if (g.layer_owner(k) != k) continue;  // a shared layer's later call
    const Layer& layer = g.layer(k);
    if (!layer.trainable()) frozen.push_back(static_cast<int64_t>(k));
    for (const Param& p : layer.params())
      r.tensors.push_back({param_key(layer, p), p.value.shape(), p.value.data(), nullptr});
  }
  r.meta.set(kStep, static_cast<int64_t>(g.step()));
  r.meta.set(kFrozen, frozen);
  if (const Optimizer* opt = g.optimizer_or_null()) {
    r.optimizer.set("learning_rate", opt->learning_rate());  // as it is now, if it was changed
    r.meta.set(kIterations, opt->iterations());
    const auto& slots = opt->existing_slots();
    const std::vector<std::string> names = opt->slot_names();
    for (size_t i = 0; i < slots.size(); ++i)
      for (size_t s = 0; s < slots[i].size(); ++s)
        r.tensors.push_back({slot_key(g.param_layer(i), *g.params()[i], names.at(s)),
                             slots[i][s].shape(), slots[i][s].data(), nullptr});
  }
  return r;
}

std::unique_ptr<Graph> from_record(const ModelRecord& r) {
  const std::vector<NodeSpec> specs = node_specs(r);
  check_shapes(r, specs);
  std::vector<int> outputs(r.outputs.begin(), r.outputs.end());
  auto g = std::make_unique<Graph>(specs, r.input_shapes, outputs, 0);
  if (kTrainingBuilt && r.loss.has("type")) g->compile(r.loss, r.optimizer);
  TensorIndex index(r);
  if (!kTrainingBuilt) index.skip_optimizer_state();
  for (size_t k = 0; k < g->size(); ++k)
    for (Param& p : g->layer(k).params()) {
      if (g->layer_owner(k) != k) break;  // a shared layer's later call
      const TensorRecord& t = index.take(param_key(g->layer(k), p), p.value.shape());
      // In place: the file's (mapped) memory until something writes it.
      p.value = Tensor::view(t.floats(), t.shape, t.owner);
      if (!t.owner) p.value = p.value.clone();
    }
  Attrs meta;
  for (const auto& [key, value] : r.meta.values())
    if (key != kStep && key != kIterations && key != kFrozen) meta.set(key, value);
  g->meta() = meta;
  g->set_step(static_cast<uint64_t>(r.meta.get_int(kStep, 0)));
  if (r.meta.has(kFrozen))
    for (int64_t k : r.meta.get_int_list(kFrozen)) {
      if (k < 0 || k >= static_cast<int64_t>(g->size()))
        throw FormatError(cat("frozen layer index ", k, " is out of range"));
      g->set_trainable(static_cast<size_t>(k), false);
    }
  if (kTrainingBuilt && g->compiled()) {  // never compiled in a runtime-only build
    Optimizer& opt = g->optimizer();
    opt.set_iterations(r.meta.get_int(kIterations, 0));
    const std::vector<std::string> names = opt.slot_names();
    bool any = false;
    for (const TensorRecord& t : r.tensors) any |= t.name.rfind("optimizer/", 0) == 0;
    if (any) {
      auto& slots = opt.slots(g->params());
      for (size_t i = 0; i < g->params().size(); ++i)
        for (size_t s = 0; s < names.size(); ++s) {
          const Param& p = *g->params()[i];
          const TensorRecord& t = index.take(slot_key(g->param_layer(i), p, names[s]), p.value.shape());
          copy_floats(slots[i][s].data(), t.floats(), slots[i][s].numel());
        }
    }
  }
  index.expect_all_taken();
  return g;
}

}  // namespace io

std::vector<uint8_t> save_model_bytes(const Graph& g) {
  auto lock = g.read_lock();
  return io::encode(io::to_record(g));
}

void save_model_file(const Graph& g, const std::string& path) {
  io::write_file(path, save_model_bytes(g));
}

namespace {
// from_record, with every complaint about what the file describes (a layer
// argument, a shape, a metadata value of the wrong type) as a FormatError.
std::unique_ptr<Graph> graph_from(const io::ModelRecord& r, const std::string& where) {
  if (QuantizedModel::is_quantized(r))
    throw FormatError(cat(where, "the file holds a quantized model (pyconv.quantize), which "
                                 "pyconv.models.load_model and the C API load, not as a float graph"));
  try {
    return io::from_record(r);
  } catch (const FormatError& e) {
    throw FormatError(cat(where, e.what()));
  } catch (const std::invalid_argument& e) {  // ShapeError, ValueError, TypeError
    throw FormatError(cat(where, "the model file describes a model that cannot be built: ",
                          e.what()));
  }
}
}  // namespace

// A loaded model is mostly there to predict: its weights are packed now, not
// in the first predict.
std::unique_ptr<Graph> load_model_file(const std::string& path) {
  std::unique_ptr<Graph> g = graph_from(io::read_file(path), path + ": ");
  g->prepare_inference();
  return g;
}

std::unique_ptr<Graph> load_model_memory(const void* data, size_t size) {
  std::unique_ptr<Graph> g = graph_from(io::decode(data, size, nullptr), "");
  g->prepare_inference();
  return g;
}

namespace {
AnyModel any_model(io::ModelRecord r, const std::string& where) {
  AnyModel m;
  if (!QuantizedModel::is_quantized(r)) {
    m.graph = graph_from(r, where);
    m.graph->prepare_inference();
    return m;
  }
  if (!kInt8Built)
    throw FormatError(cat(where, "the file holds a quantized model (pyconv.quantize), and this "
                                 "runtime was built for float models only (PYCONV_INT8=OFF)"));
  try {
    m.quantized = std::make_unique<QuantizedModel>(std::move(r));
  } catch (const FormatError& e) {
    throw FormatError(cat(where, e.what()));
  } catch (const std::invalid_argument& e) {  // an attribute missing or of the wrong type
    throw FormatError(cat(where, "the file's quantized model cannot be built: ", e.what()));
  }
  return m;
}
}  // namespace

AnyModel load_any_model_file(const std::string& path) {
  return any_model(io::read_file(path), path + ": ");
}

AnyModel load_any_model_memory(const void* data, size_t size) {
  return any_model(io::decode(data, size, nullptr), "");
}

void load_weights_file(Graph& g, const std::string& path) {
  const io::ModelRecord r = io::read_file(path);
  std::vector<std::pair<size_t, std::vector<const float*>>> layers;
  try {
    // Layer by layer in order: names differ between two builds of one model.
    if (r.nodes.size() != g.size())
      throw FormatError(cat("it has ", r.nodes.size(), " layers, the model ", g.size()));
    TensorIndex index(r);
    for (size_t k = 0; k < g.size(); ++k) {
      if (g.layer_owner(k) != k) continue;
      std::vector<const float*> values;
      for (const Param& p : g.layer(k).params())
        values.push_back(index.take(param_key(r.nodes[k].attrs.name(), p), p.value.shape()).floats());
      layers.emplace_back(k, values);
    }
  } catch (const FormatError& e) {
    throw FormatError(cat(path, ": its weights do not fit this model: ", e.what()));
  }
  g.set_weights(layers);
}

}  // namespace pyconv

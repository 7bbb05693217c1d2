// Bindings of Graph (the model), LayerRunner (one layer, for tests) and
// loss_and_grad. Every compute call releases the GIL.
#include <pybind11/stl.h>

#include <cstring>
#include <limits>

#include "core/error.h"
#include "core/rng.h"
#include "graph/graph.h"
#include "io/model_file.h"
#include "python/convert.h"

namespace pyconv::python {

namespace {

// The outputs of one batch, computed straight into the new array.
py::array_t<float> predict_one(const Graph& g, const FloatArray& x) {
  const Tensor xv = view_of(x);
  Shape shape = g.output_shape();
  shape.insert(shape.begin(), xv.ndim() ? xv.dim(0) : 0);
  py::array_t<float> result = new_array(shape);
  Tensor out = Tensor::view(result.mutable_data(), shape);
  {
    GilRelease release;
    g.predict(xv, out, Graph::Outputs::Scratch);
  }
  return result;
}

std::vector<Attrs> attrs_list(const py::list& layers) {
  std::vector<Attrs> out;
  for (py::handle h : layers) {
    if (!py::isinstance<py::dict>(h))
      throw TypeError("each layer must be described by a dict of its arguments");
    out.push_back(attrs_from_dict(h.cast<py::dict>()));
  }
  return out;
}

// [(layer config, [input node indices])] as the graph's node specs.
std::vector<NodeSpec> node_specs(const py::list& nodes) {
  std::vector<NodeSpec> specs;
  for (py::handle h : nodes) {
    auto [config, inputs] = h.cast<std::pair<py::dict, std::vector<int>>>();
    specs.push_back({attrs_from_dict(config), inputs});
  }
  return specs;
}

py::list get_params(const Graph& g, size_t i) {
  std::vector<Tensor> values;
  {
    GilRelease release;
    values = g.get_weights(i);
  }
  py::list out;
  for (const Tensor& t : values) out.append(to_numpy(t));
  return out;
}

void set_params(Graph& g, size_t i, const py::list& values) {
  const Layer& layer = g.layer(i);
  const auto& params = layer.params();
  if (values.size() != params.size())
    throw ValueError(cat(layer.who(), ": expected ", params.size(), " weight arrays, received ",
                         values.size()));
  // Check every array before copying any, so a bad list changes nothing.
  std::vector<FloatArray> arrays;
  std::vector<const float*> data;
  for (size_t k = 0; k < params.size(); ++k) {
    FloatArray a = FloatArray::ensure(values[k]);
    if (!a) throw TypeError(cat(layer.who(), ": weight ", k, " is not a numeric array"));
    Shape s(a.shape(), a.shape() + a.ndim());
    if (s != params[k].value.shape())
      throw ShapeError(cat(layer.who(), ": expected weight ", k, " ('", params[k].name,
                           "') of shape ", shape_str(params[k].value.shape()), ", received ",
                           shape_str(s)));
    arrays.push_back(a);
    data.push_back(a.data());
  }
  GilRelease release;
  g.set_weights(i, data);
}

py::list param_names(Layer& layer) {
  py::list out;
  for (const Param& p : layer.params()) out.append(p.name);
  return out;
}

// One layer built alone, with forward/backward exposed: what op tests drive.
class LayerRunner {
 public:
  LayerRunner(const py::dict& config, const py::handle& input_shape)
      : graph_({attrs_from_dict(config)}, shape_from_sequence(input_shape), global_seed()) {}

  Layer& layer() { return graph_.layer(0); }
  Graph& graph() { return graph_; }
  py::tuple output_shape() { return shape_to_tuple(graph_.output_shape()); }

  py::array_t<float> forward(FloatArray x, bool training) {
    x_ = x;
    x_view_ = view_of(x_);
    has_forward_ = false;  // set again only if this forward succeeds
    {
      GilRelease release;
      graph_.forward(x_view_, training);
    }
    has_forward_ = true;
    return to_numpy(graph_.output());
  }

  py::tuple backward(FloatArray dy) {
    if (!has_forward_) throw StateError("backward() needs a forward() first");
    const Tensor given = view_of(dy);
    Shape expected = with_batch(x_view_.dim(0), graph_.output_shape());
    if (given.shape() != expected)
      throw ShapeError(cat("expected an output gradient of shape ", shape_str(expected),
                           ", received ", shape_str(given.shape())));
    // A layer may overwrite its output gradient, so it works on a copy (in
    // the graph's own buffer); dx is written straight into the result.
    Tensor& dout = graph_.output_grad();
    copy_floats(dout.data(), given.data(), given.numel());
    py::array_t<float> dx = new_array(x_view_.shape());
    Tensor dx_view = Tensor::view(dx.mutable_data(), x_view_.shape());
    {
      GilRelease release;
      graph_.backward(dout, &dx_view);
    }
    py::list grads;
    for (const Param& p : layer().params()) grads.append(to_numpy(p.grad));
    return py::make_tuple(dx, grads);
  }

 private:
  Graph graph_;
  FloatArray x_;
  Tensor x_view_;
  bool has_forward_ = false;
};

// A sample-weight array or None, as a view (null for None).
const Tensor* weights_view(const py::object& sample_weight, FloatArray& keep, Tensor& view) {
  if (sample_weight.is_none()) return nullptr;
  keep = FloatArray::ensure(sample_weight);
  if (!keep) throw TypeError("sample_weight must be a numeric array, one weight per sample");
  view = view_of(keep);
  return &view;
}

// The step's options from Python: outputs=True keeps the outputs; top_k is
// None or, per output, a list of k.
StepOptions step_options(bool outputs, const py::object& top_k) {
  StepOptions options;
  options.keep_outputs = outputs;
  if (!top_k.is_none()) options.top_k = top_k.cast<std::vector<std::vector<int>>>();
  return options;
}

// A step's sums, then what the options asked for: the [outputs] as arrays,
// the [[top-k counts]] per output.
py::tuple with_extras(const py::tuple& sums, const StepResult& r, const StepOptions& options) {
  py::list extras;
  if (options.keep_outputs) {
    py::list arrays;
    for (const Tensor& t : r.outputs) arrays.append(to_numpy(t));
    extras.append(arrays);
  }
  if (!options.top_k.empty()) extras.append(py::cast(r.output_top_k));
  py::tuple out(sums.size() + extras.size());
  for (size_t i = 0; i < sums.size(); ++i) out[i] = sums[i];
  for (size_t i = 0; i < extras.size(); ++i) out[sums.size() + i] = extras[i];
  return out;
}

// (loss, correct, |error| sum, error^2 sum), and [outputs] when asked for.
py::tuple step(Graph& g, FloatArray x, FloatArray y, bool training, const py::object& sample_weight,
               bool outputs, const py::object& top_k) {
  Tensor xv = view_of(x), yv = view_of(y), wv;
  FloatArray keep_w;
  const Tensor* w = weights_view(sample_weight, keep_w, wv);
  const StepOptions options = step_options(outputs, top_k);
  StepResult r;
  {
    GilRelease release;
    r = training ? g.train_step(Batch{&xv}, Batch{&yv}, w, options)
                 : g.test_step(Batch{&xv}, Batch{&yv}, w, options);
  }
  return with_extras(py::make_tuple(r.loss, r.correct, r.output_abs_error[0],
                                    r.output_squared_error[0]), r, options);
}

// Arrays as tensor views, for a model of several inputs or outputs; the
// arrays are kept alive in `keep`.
Batch views_of(const py::list& arrays, std::vector<FloatArray>& keep, std::vector<Tensor>& views) {
  keep.clear();
  for (py::handle h : arrays) keep.push_back(FloatArray::ensure(h));
  for (size_t i = 0; i < keep.size(); ++i)
    if (!keep[i]) throw TypeError(cat("array ", i, " of the list is not a numeric array"));
  views.clear();
  for (const FloatArray& a : keep) views.push_back(view_of(a));
  Batch batch;
  for (const Tensor& t : views) batch.push_back(&t);
  return batch;
}

// (total loss, [loss per output], [correct per output]).
py::tuple step_multi(Graph& g, const py::list& xs, const py::list& ys, bool training,
                     const py::object& sample_weight, bool outputs, const py::object& top_k) {
  std::vector<FloatArray> keep_x, keep_y;
  std::vector<Tensor> vx, vy;
  const Batch bx = views_of(xs, keep_x, vx), by = views_of(ys, keep_y, vy);
  FloatArray keep_w;
  Tensor wv;
  const Tensor* w = weights_view(sample_weight, keep_w, wv);
  const StepOptions options = step_options(outputs, top_k);
  StepResult r;
  {
    GilRelease release;
    r = training ? g.train_step(bx, by, w, options) : g.test_step(bx, by, w, options);
  }
  return with_extras(py::make_tuple(r.loss, r.output_losses, r.output_correct,
                                    r.output_abs_error, r.output_squared_error), r, options);
}

// augment_key: None for plain inference, else Graph::predict_augmented's key.
py::list predict_multi(const Graph& g, const py::list& xs, const py::object& augment_key) {
  std::vector<FloatArray> keep;
  std::vector<Tensor> views;
  const Batch bx = views_of(xs, keep, views);
  const int64_t n = views.empty() || !views[0].ndim() ? 0 : views[0].dim(0);
  py::list result;
  std::vector<Tensor> outs;
  for (size_t j = 0; j < g.outputs().size(); ++j) {
    const Shape shape = with_batch(n, g.output_shape(j));
    py::array_t<float> a = new_array(shape);
    outs.push_back(Tensor::view(a.mutable_data(), shape));
    result.append(a);
  }
  std::vector<Tensor*> out_ptrs;
  for (Tensor& t : outs) out_ptrs.push_back(&t);
  {
    const bool augment = !augment_key.is_none();
    const uint64_t key = augment ? augment_key.cast<uint64_t>() : 0;
    GilRelease release;
    // The outputs are this call's new arrays: a failed call drops them.
    if (augment)
      g.predict_augmented(bx, out_ptrs, key, Graph::Outputs::Scratch);
    else
      g.predict(bx, out_ptrs, Graph::Outputs::Scratch);
  }
  return result;
}

// (name, shape, trainable, is_state) of each of a layer's weights.
py::list param_info(const Graph& g, size_t i) {
  py::list out;
  for (const Param& p : g.layer(i).params())
    out.append(py::make_tuple(p.name, shape_to_tuple(p.value.shape()), p.trainable, p.is_state));
  return out;
}

}  // namespace

void bind_graph(py::module_& m) {
  py::class_<Graph>(m, "Graph")
      .def(py::init([](const py::list& layers, const py::handle& input_shape, uint64_t seed) {
             return new Graph(attrs_list(layers), shape_from_sequence(input_shape), seed);
           }),
           py::arg("layers"), py::arg("input_shape"), py::arg("seed"))
      .def_static("dag",
                  [](const py::list& nodes, const py::handle& input_shape, uint64_t seed) {
                    return new Graph(node_specs(nodes), shape_from_sequence(input_shape), seed);
                  },
                  py::arg("nodes"), py::arg("input_shape"), py::arg("seed"),
                  "A DAG of (layer config, [input node indices; -1 = the model input]) in "
                  "topological order; the output is the last node.")
      .def_static("multi",
                  [](const py::list& nodes, const py::list& input_shapes,
                     const std::vector<int>& outputs, uint64_t seed) {
                    std::vector<Shape> shapes;
                    for (py::handle s : input_shapes) shapes.push_back(shape_from_sequence(s));
                    return new Graph(node_specs(nodes), shapes, outputs, seed);
                  },
                  py::arg("nodes"), py::arg("input_shapes"), py::arg("outputs"), py::arg("seed"),
                  "A DAG with several inputs (-1 - k names input k) and outputs (node "
                  "indices); a node that repeats an earlier node's name calls its layer again.")
      .def("compile",
           [](Graph& g, const py::dict& loss, const py::dict& optimizer) {
             g.compile(attrs_from_dict(loss), attrs_from_dict(optimizer));
           },
           py::arg("loss"), py::arg("optimizer"))
      .def_property_readonly("compiled", &Graph::compiled)
      .def("check_targets", [](Graph& g, FloatArray y, size_t output) {
             g.check_targets(view_of(y), output);
           }, py::arg("y"), py::arg("output") = 0)
      .def("train_step",
           [](Graph& g, FloatArray x, FloatArray y, const py::object& w, bool outputs,
              const py::object& top_k) { return step(g, x, y, true, w, outputs, top_k); },
           py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
           py::arg("outputs") = false, py::arg("top_k") = py::none(),
           "One training step on a batch: returns (mean loss, number correct, sum of absolute "
           "errors, sum of squared errors); then with outputs=True the [outputs] the loss saw, "
           "and with top_k=[[k, ...] per output] the weighted top-k counts per output.")
      .def("test_step",
           [](Graph& g, FloatArray x, FloatArray y, const py::object& w, bool outputs,
              const py::object& top_k) { return step(g, x, y, false, w, outputs, top_k); },
           py::arg("x"), py::arg("y"), py::arg("sample_weight") = py::none(),
           py::arg("outputs") = false, py::arg("top_k") = py::none())
      .def("train_step_multi",
           [](Graph& g, const py::list& xs, const py::list& ys, const py::object& w, bool outputs,
              const py::object& top_k) { return step_multi(g, xs, ys, true, w, outputs, top_k); },
           py::arg("xs"), py::arg("ys"), py::arg("sample_weight") = py::none(),
           py::arg("outputs") = false, py::arg("top_k") = py::none(),
           "One training step on lists of input and target arrays: returns (total loss, "
           "[loss per output], [correct per output], [absolute error sum per output], "
           "[squared error sum per output]), and with outputs=True the [outputs].")
      .def("test_step_multi",
           [](Graph& g, const py::list& xs, const py::list& ys, const py::object& w, bool outputs,
              const py::object& top_k) { return step_multi(g, xs, ys, false, w, outputs, top_k); },
           py::arg("xs"), py::arg("ys"), py::arg("sample_weight") = py::none(),
           py::arg("outputs") = false, py::arg("top_k") = py::none())
      .def("set_profiling", [](const Graph& g, bool on) { g.profile().set(on); }, py::arg("on"))
      .def_property_readonly("profiling", [](const Graph& g) { return g.profile().on(); })
      .def("reset_profile", [](const Graph& g) { g.profile().reset(); })
      .def("profile_counts",
           [](const Graph& g) {
             // Per node (forward ns, calls, backward ns, calls); then the
             // training steps' {part: (ns, calls)}.
             py::list nodes;
             const Profile& p = g.profile();
             for (size_t k = 0; k < g.size(); ++k) {
               const Profile::Counts f = p.get(k, Profile::Forward), b = p.get(k, Profile::Backward);
               nodes.append(py::make_tuple(f.ns, f.calls, b.ns, b.calls));
             }
             py::dict step;
             for (auto [name, part] : {std::pair{"loss", Profile::Loss},
                                       std::pair{"update", Profile::Update},
                                       std::pair{"step", Profile::Step}}) {
               const Profile::Counts c = p.get(0, part);
               step[name] = py::make_tuple(c.ns, c.calls);
             }
             return py::make_tuple(nodes, step);
           },
           "Times counted while profiling: [(forward ns, calls, backward ns, calls)] per "
           "node, and {'loss' | 'update' | 'step': (ns, calls)} for the training steps.")
      .def("predict_multi", &predict_multi, py::arg("xs"), py::arg("augment_key") = py::none(),
           "Outputs (a list, one array per output) for a list of input arrays; with an "
           "augment_key, the random augmentation layers transform (Keras's model(x)).")
      .def("predict", &predict_one)
      .def("predict_as_is",
           [](const Graph& g, py::handle x, int64_t max_batch) -> py::object {
             if (g.input_shapes().size() != 1 || g.outputs().size() != 1 ||
                 !fits_as_is(x, g.input_shape(), max_batch))
               return py::none();
             return predict_one(g, py::reinterpret_borrow<FloatArray>(x));
           },
           py::arg("x"), py::arg("max_batch") = std::numeric_limits<int64_t>::max(),
           "predict(x) where x needs no conversion (an ndarray, not a subclass, of "
           "C-contiguous float32 holding 1 to max_batch samples of the input shape, for a "
           "model of one input and output), else None: the fast path of Model.predict and "
           "predict_on_batch, its checks made here in one call.")
      .def("node_outputs",
           [](const Graph& g, const py::list& xs, const std::vector<size_t>& which) {
             std::vector<FloatArray> keep;
             std::vector<Tensor> views;
             const Batch bx = views_of(xs, keep, views);
             std::vector<Tensor> outs;
             {
               GilRelease release;
               outs = g.node_outputs(bx, which);
             }
             py::list result;
             for (const Tensor& t : outs) result.append(to_numpy(t));
             return result;
           },
           py::arg("xs"), py::arg("nodes"),
           "Inference on a list of input arrays; the outputs of the given nodes (feature "
           "maps), as arrays.")
      .def_property_readonly("num_layers", &Graph::size)
      .def_property_readonly("output_shape", [](Graph& g) { return shape_to_tuple(g.output_shape()); })
      .def("layer_output_shape", [](Graph& g, size_t i) { return shape_to_tuple(g.layer_output_shape(i)); })
      .def("layer_param_names", [](Graph& g, size_t i) { return param_names(g.layer(i)); })
      .def("layer_param_info", &param_info)
      .def("node_inputs", [](const Graph& g, size_t i) { return g.node_inputs(i); })
      .def_property_readonly("input_shape", [](const Graph& g) { return shape_to_tuple(g.input_shape()); })
      .def_property_readonly("input_shapes",
                             [](const Graph& g) {
                               py::list out;
                               for (const Shape& s : g.input_shapes()) out.append(shape_to_tuple(s));
                               return out;
                             })
      .def_property_readonly("outputs", [](const Graph& g) { return g.outputs(); })
      .def_property_readonly("inference_folds", &Graph::inference_folds,
                             "(layer node, BatchNormalization node, last node) of each chain "
                             "that inference runs as one layer with the normalization folded in.")
      .def_property_readonly("pool_fusions", &Graph::pool_fusions,
                             "(layer node, MaxPooling2D node) of each pooling that training "
                             "and inference run inside the layer before it.")
      .def("layer_owner", &Graph::layer_owner,
           "The node holding node i's layer: i, or a shared layer's first call.")
      .def("layer_config", [](const Graph& g, size_t i) { return attrs_to_dict(g.layer(i).attrs()); })
      .def_property_readonly("loss_config", [](const Graph& g) { return attrs_to_dict(g.loss_attrs()); })
      .def_property_readonly("optimizer_config",
                             [](const Graph& g) { return attrs_to_dict(g.optimizer_attrs()); })
      .def_property("meta", [](const Graph& g) { return attrs_to_dict(g.meta()); },
                    [](Graph& g, const py::dict& d) { g.meta() = attrs_from_dict(d); },
                    "Free-form values saved with the model (str, int, float, bool, int lists).")
      .def_property_readonly("step", &Graph::step)
      .def("save",
           [](const Graph& g, const std::string& path) {
             GilRelease release;
             save_model_file(g, path);
           },
           py::arg("path"), "Writes the whole model to a .pcv file (atomically).")
      .def("to_bytes",
           [](const Graph& g) {
             std::vector<uint8_t> bytes;
             {
               GilRelease release;
               bytes = save_model_bytes(g);
             }
             return py::bytes(reinterpret_cast<const char*>(bytes.data()), bytes.size());
           })
      .def("load_weights",
           [](Graph& g, const std::string& path) {
             GilRelease release;
             load_weights_file(g, path);
           },
           py::arg("path"))
      .def("get_weights", &get_params)
      .def("set_weights", &set_params)
      .def("set_trainable",
           [](Graph& g, size_t i, bool trainable) {
             GilRelease release;
             g.set_trainable(i, trainable);
           })
      .def("begin_training", &Graph::begin_training,
           "Marks the calling thread as the model's trainer (fit holds it for all its epochs).")
      .def("end_training", &Graph::end_training)
      .def_property_readonly("held_bytes", &Graph::held_bytes,
                             "Bytes of activations and scratch the model's contexts hold.")
      .def_property("learning_rate",
                    [](Graph& g) { return g.optimizer().learning_rate(); },
                    [](Graph& g, double lr) { g.optimizer().set_learning_rate(lr); })
      .def_property_readonly("iterations", [](Graph& g) { return g.optimizer().iterations(); });

  py::class_<LayerRunner>(m, "LayerRunner")
      .def(py::init<const py::dict&, const py::handle&>(), py::arg("config"), py::arg("input_shape"))
      .def_property_readonly("output_shape", &LayerRunner::output_shape)
      .def_property_readonly("param_names", [](LayerRunner& r) { return param_names(r.layer()); })
      .def("get_params", [](LayerRunner& r) { return get_params(r.graph(), 0); })
      .def("set_params", [](LayerRunner& r, const py::list& w) { set_params(r.graph(), 0, w); })
      .def("forward", &LayerRunner::forward, py::arg("x"), py::arg("training") = false)
      .def("backward", &LayerRunner::backward, py::arg("dy"));

  m.def("load_graph",
        [](const std::string& path) {
          GilRelease release;
          return load_model_file(path);
        },
        py::arg("path"), "A model from a .pcv file, validated first.");
  m.def("load_graph_bytes",
        [](const py::bytes& data) {
          const std::string_view view = data;
          GilRelease release;
          return load_model_memory(view.data(), view.size());
        },
        py::arg("data"));
  m.def("layer_info",
        [](const py::dict& config, const py::handle& input_shape) {
          auto layer = create_layer(attrs_from_dict(config));
          // One shape, or a list of shapes for a layer with several inputs.
          std::vector<Shape> inputs;
          if (py::isinstance<py::list>(input_shape))
            for (py::handle s : input_shape) inputs.push_back(shape_from_sequence(s));
          else
            inputs.push_back(shape_from_sequence(input_shape));
          const Shape out = layer->infer(inputs);
          py::list params;
          for (const Param& p : layer->params())
            params.append(py::make_tuple(p.name, shape_to_tuple(p.value.shape()), p.is_state));
          return py::make_tuple(shape_to_tuple(out), params);
        },
        py::arg("config"), py::arg("input_shape"),
        "(output shape, [(param name, shape, is_state)]) of a layer for a per-sample input shape (a "
        "tuple; a list of tuples for several inputs); "
        "checks the arguments and shapes without initialising weights.");
  m.def("validate_layer",
        [](const py::dict& config) {
          const Attrs attrs = attrs_from_dict(config);
          create_layer(attrs);
          check_weight_specs(attrs);
        },
        py::arg("config"), "Raises if the layer's arguments are invalid.");
  m.def("pack_output_losses",
        [](const py::list& losses, const std::vector<double>& weights) {
          return attrs_to_dict(pack_output_losses(attrs_list(losses), weights));
        },
        py::arg("losses"), py::arg("weights"),
        "The loss config of a model with several outputs: each output's loss and weight.");
  m.def("unpack_output_losses",
        [](const py::dict& config, size_t outputs) {
          py::list out;
          for (const auto& [attrs, weight] : unpack_output_losses(attrs_from_dict(config), outputs))
            out.append(py::make_tuple(attrs_to_dict(attrs), weight));
          return out;
        },
        py::arg("config"), py::arg("outputs"), "[(loss config, weight)] per output.");
  m.def("validate_optimizer", [](const py::dict& c) { make_optimizer(attrs_from_dict(c)); });
  m.def("validate_loss", [](const py::dict& c) { make_loss(attrs_from_dict(c)); });
  m.def("loss_and_grad",
        [](const py::dict& config, FloatArray pred, FloatArray target) {
          auto loss = make_loss(attrs_from_dict(config));
          Tensor p = view_of(pred), t = view_of(target), g(p.shape());
          const double value = loss->compute(p, t, &g);
          return py::make_tuple(value, to_numpy(g));
        },
        py::arg("config"), py::arg("pred"), py::arg("target"),
        "Mean loss over the batch and its gradient with respect to pred.");
}

}  // namespace pyconv::python

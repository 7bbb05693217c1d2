// Bindings of quantized models (quant/quantized_model.h): built from the
// description pyconv.quantization computes, run, saved and read back, and
// their parts handed to `python -m pyconv export-c`.
#include <pybind11/stl.h>

#include <cstring>
#include <limits>
#include <string_view>

#include "core/error.h"
#include "core/threads.h"
#include "io/model_file.h"
#include "python/convert.h"

namespace pyconv::python {

namespace {

using io::layout::DType;

DType dtype_of(const py::array& a, const std::string& name) {
  if (a.dtype().is(py::dtype::of<float>())) return io::layout::kFloat32;
  if (a.dtype().is(py::dtype::of<int8_t>())) return io::layout::kInt8;
  if (a.dtype().is(py::dtype::of<int32_t>())) return io::layout::kInt32;
  throw TypeError(cat("tensor '", name, "' must be float32, int8 or int32"));
}

py::dtype numpy_dtype(DType t) {
  if (t == io::layout::kInt8) return py::dtype::of<int8_t>();
  if (t == io::layout::kInt32) return py::dtype::of<int32_t>();
  return py::dtype::of<float>();
}

// The record of (input shape, [(node attrs, inputs)], {name: array}, meta),
// encoded and decoded again, so that a model built here is checked exactly
// as a file is.
std::unique_ptr<QuantizedModel> from_parts(const py::handle& input_shape, const py::list& nodes,
                                           const py::dict& tensors, const py::dict& meta) {
  io::ModelRecord r;
  r.input_shapes.push_back(shape_from_sequence(input_shape));
  for (py::handle h : nodes) {
    auto [config, inputs] = h.cast<std::pair<py::dict, std::vector<int32_t>>>();
    r.nodes.push_back({attrs_from_dict(config), inputs});
  }
  r.outputs.push_back(static_cast<int32_t>(r.nodes.size()) - 1);
  r.meta = attrs_from_dict(meta);
  std::vector<py::array> keep;  // contiguous copies, alive until encoded
  for (auto [key, value] : tensors) {
    const std::string name = key.cast<std::string>();
    py::array a = py::array::ensure(value, py::array::c_style);
    if (!a) throw TypeError(cat("tensor '", name, "' is not an array"));
    keep.push_back(a);
    r.tensors.push_back({name, Shape(a.shape(), a.shape() + a.ndim()), a.data(), nullptr,
                         dtype_of(a, name)});
  }
  const std::vector<uint8_t> bytes = io::encode(r);
  return std::make_unique<QuantizedModel>(io::decode(bytes.data(), bytes.size(), nullptr));
}

std::unique_ptr<QuantizedModel> quantized_from(AnyModel m, const std::string& where) {
  if (!m.quantized) throw ValueError(cat(where, "holds a float model, not a quantized one"));
  return std::move(m.quantized);
}

py::array_t<float> predict(const QuantizedModel& q, FloatArray x) {
  Shape expected = q.input_shape();
  if (x.ndim() < 1) throw ShapeError("expected a batch of samples");
  expected.insert(expected.begin(), x.shape(0));
  const Shape given(x.shape(), x.shape() + x.ndim());
  if (given != expected)
    throw ShapeError(cat("expected input of shape ", shape_str(expected), ", received ",
                         shape_str(given)));
  Shape out_shape = q.output_shape();
  out_shape.insert(out_shape.begin(), x.shape(0));
  py::array_t<float> y = new_array(out_shape);
  float* out = y.mutable_data();
  {
    GilRelease release;
    q.predict(x.data(), x.shape(0), out, num_threads());
  }
  return y;
}

std::vector<uint8_t> to_bytes(const QuantizedModel& q) { return io::encode(q.record()); }

}  // namespace

void bind_quant(py::module_& m) {
  py::class_<QuantizedModel>(m, "QuantizedModel")
      .def_static("from_parts", &from_parts, py::arg("input_shape"), py::arg("nodes"),
                  py::arg("tensors"), py::arg("meta"))
      .def_static("load",
                  [](const std::string& path) {
                    GilRelease release;
                    return quantized_from(load_any_model_file(path), path + " ");
                  })
      .def_static("from_bytes",
                  [](const py::bytes& data) {
                    const std::string_view view = data;
                    GilRelease release;
                    return quantized_from(load_any_model_memory(view.data(), view.size()), "");
                  })
      .def("predict", &predict, py::arg("x"))
      .def("predict_as_is",
           [](const QuantizedModel& q, py::handle x) -> py::object {
             if (!fits_as_is(x, q.input_shape(), std::numeric_limits<int64_t>::max())) return py::none();
             return predict(q, py::reinterpret_borrow<FloatArray>(x));
           },
           py::arg("x"), "predict(x) where x needs no conversion (python/convert.h), else None")
      .def_property_readonly("input_shape", [](const QuantizedModel& q) { return shape_to_tuple(q.input_shape()); })
      .def_property_readonly("output_shape", [](const QuantizedModel& q) { return shape_to_tuple(q.output_shape()); })
      .def("save",
           [](const QuantizedModel& q, const std::string& path) {
             GilRelease release;
             io::write_file(path, to_bytes(q));
           })
      .def("to_bytes",
           [](const QuantizedModel& q) {
             const std::vector<uint8_t> b = to_bytes(q);
             return py::bytes(reinterpret_cast<const char*>(b.data()), b.size());
           })
      .def("nodes",
           [](const QuantizedModel& q) {
             py::list out;
             for (const io::NodeRecord& n : q.record().nodes) out.append(attrs_to_dict(n.attrs));
             return out;
           })
      .def("tensors",
           [](const QuantizedModel& q) {
             py::dict out;
             for (const io::TensorRecord& t : q.record().tensors) {
               py::array a(numpy_dtype(t.dtype), std::vector<py::ssize_t>(t.shape.begin(), t.shape.end()));
               std::memcpy(a.mutable_data(), t.data, static_cast<size_t>(a.nbytes()));
               out[text_of(t.name)] = a;
             }
             return out;
           })
      .def_property_readonly("meta", [](const QuantizedModel& q) { return attrs_to_dict(q.record().meta); })
      .def_property_readonly("int8_kernels", &QuantizedModel::int8_kernels)
      .def("arena_bytes", [](const QuantizedModel& q) { return pcvm::arena_bytes(q.ops()); });

  // A saved model of either kind: a Graph or a QuantizedModel.
  auto either = [](AnyModel m) -> py::object {
    if (m.quantized) return py::cast(std::move(m.quantized));
    return py::cast(std::move(m.graph));
  };
  m.def("load_any_model", [either](const std::string& path) {
    AnyModel loaded;
    {
      GilRelease release;
      loaded = load_any_model_file(path);
    }
    return either(std::move(loaded));
  });
  m.def("load_any_model_bytes", [either](const py::bytes& data) {
    const std::string_view view = data;
    AnyModel loaded;
    {
      GilRelease release;
      loaded = load_any_model_memory(view.data(), view.size());
    }
    return either(std::move(loaded));
  });
}

}  // namespace pyconv::python

// Conversions between Python objects and core types, shared by the bindings.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "core/tensor.h"
#include "graph/attrs.h"

namespace pyconv::python {

namespace py = pybind11;
using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// {"type": "Conv2D", "filters": 32, "kernel_size": (3, 3), ...} -> Attrs.
// None values are dropped (the C++ default applies).
Attrs attrs_from_dict(const py::dict& d);
Shape shape_from_sequence(const py::handle& seq);
py::tuple shape_to_tuple(const Shape& s);
// A tensor viewing the array's memory (no copy): the array must outlive it.
Tensor view_of(FloatArray& a);
// A new float32 array of this shape, uninitialised: for a result that a
// kernel writes in place (view it with Tensor::view).
py::array_t<float> new_array(const Shape& shape);
py::array_t<float> to_numpy(const Tensor& t);

}  // namespace pyconv::python

#include "python/convert.h"

#include <cstring>

#include "core/error.h"

namespace pyconv::python {

namespace {
bool is_integer(const py::handle& v) {
  return !py::isinstance<py::bool_>(v) && PyIndex_Check(v.ptr());
}
}  // namespace

Attrs attrs_from_dict(const py::dict& d) {
  Attrs a;
  for (auto item : d) {
    const std::string key = py::str(item.first);
    py::handle v = item.second;
    if (v.is_none()) continue;
    if (py::isinstance<py::bool_>(v)) {
      a.set(key, v.cast<bool>());
    } else if (is_integer(v)) {
      a.set(key, py::cast<int64_t>(py::reinterpret_borrow<py::object>(v)));
    } else if (py::isinstance<py::float_>(v)) {
      a.set(key, v.cast<double>());
    } else if (py::isinstance<py::str>(v)) {
      a.set(key, v.cast<std::string>());
    } else if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
      std::vector<int64_t> list;
      for (py::handle e : v) {
        if (!is_integer(e))
          throw TypeError(cat("argument '", key, "' must hold integers, received ",
                              std::string(py::str(py::repr(v)))));
        list.push_back(py::cast<int64_t>(py::reinterpret_borrow<py::object>(e)));
      }
      a.set(key, list);
    } else {
      throw TypeError(cat("argument '", key, "' has an unsupported type: ",
                          std::string(py::str(py::repr(v)))));
    }
  }
  return a;
}

Shape shape_from_sequence(const py::handle& seq) {
  Shape s;
  for (py::handle e : seq) {
    if (!is_integer(e))
      throw TypeError(cat("a shape must hold integers, received ",
                          std::string(py::str(py::repr(seq)))));
    s.push_back(py::cast<int64_t>(py::reinterpret_borrow<py::object>(e)));
  }
  return s;
}

py::tuple shape_to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

Tensor view_of(FloatArray& a) {
  Shape s(a.shape(), a.shape() + a.ndim());
  return Tensor::view(a.mutable_data(), s);
}

py::array_t<float> new_array(const Shape& shape) {
  return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

py::array_t<float> to_numpy(const Tensor& t) {
  py::array_t<float> out = new_array(t.shape());
  copy_floats(out.mutable_data(), t.data(), t.numel());
  return out;
}

}  // namespace pyconv::python

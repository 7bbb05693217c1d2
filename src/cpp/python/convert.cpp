#include "python/convert.h"

// Every file that casts std containers must see the same casters (one
// definition rule): stl.h here too, not only in the binding files.
#include <pybind11/stl.h>

#include <cstring>

#include "core/error.h"

namespace pyconv::python {

namespace {
bool is_integer(const py::handle& v) {
  return !py::isinstance<py::bool_>(v) && PyIndex_Check(v.ptr());
}

// The integer's value as a Python int (numpy integers included).
py::int_ as_int(const py::handle& v) {
  PyObject* i = PyNumber_Index(v.ptr());
  if (!i) throw py::error_already_set();
  return py::reinterpret_steal<py::int_>(i);
}
}  // namespace

int64_t int64_from(const py::handle& v, const std::string& what) {
  const py::int_ i = as_int(v);
  int overflow = 0;
  const long long x = PyLong_AsLongLongAndOverflow(i.ptr(), &overflow);
  if (overflow)
    throw ValueError(cat(what, " = ", std::string(py::str(i)),
                         " is out of range for a 64-bit integer"));
  return x;
}

uint64_t uint64_from(const py::handle& v, const std::string& what) {
  const py::int_ i = as_int(v);
  const unsigned long long x = PyLong_AsUnsignedLongLong(i.ptr());
  if (PyErr_Occurred()) {  // negative or at least 2**64
    PyErr_Clear();
    throw ValueError(cat(what, " = ", std::string(py::str(i)),
                         " is out of range: expected 0 <= ", what, " < 2**64"));
  }
  return x;
}

Attrs attrs_from_dict(const py::dict& d) {
  Attrs a;
  for (auto item : d) {
    const std::string key = py::str(item.first);
    py::handle v = item.second;
    if (v.is_none()) continue;
    if (py::isinstance<py::bool_>(v)) {
      a.set(key, v.cast<bool>());
    } else if (is_integer(v)) {
      a.set(key, int64_from(v, cat("argument '", key, "'")));
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
        list.push_back(int64_from(e, cat("argument '", key, "' item ", list.size())));
      }
      a.set(key, list);
    } else {
      throw TypeError(cat("argument '", key, "' has an unsupported type: ",
                          std::string(py::str(py::repr(v)))));
    }
  }
  return a;
}

py::str text_of(const std::string& s) {
  PyObject* text = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "backslashreplace");
  if (!text) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(text);
}

py::dict attrs_to_dict(const Attrs& a) {
  py::dict d;
  for (const auto& [key, value] : a.values())
    std::visit(
        [&](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::vector<int64_t>>)
            d[text_of(key)] = py::tuple(py::cast(v));
          else if constexpr (std::is_same_v<T, std::string>)
            d[text_of(key)] = text_of(v);
          else
            d[text_of(key)] = py::cast(v);
        },
        value);
  return d;
}

Shape shape_from_sequence(const py::handle& seq) {
  Shape s;
  for (py::handle e : seq) {
    if (!is_integer(e))
      throw TypeError(cat("a shape must hold integers, received ",
                          std::string(py::str(py::repr(seq)))));
    s.push_back(int64_from(e, cat("shape ", std::string(py::str(py::repr(seq))), " item ",
                                  s.size())));
  }
  return s;
}

py::tuple shape_to_tuple(const Shape& s) {
  py::tuple t(s.size());
  for (size_t i = 0; i < s.size(); ++i) t[i] = s[i];
  return t;
}

Tensor view_of(const FloatArray& a) {
  Shape s(a.shape(), a.shape() + a.ndim());
  // Tensor::view takes a float*, but inputs are only read through it; a
  // caller that writes (gemm's c) checks that the array is writeable first.
  return Tensor::view(const_cast<float*>(a.data()), s);
}

py::array_t<float> new_array(const Shape& shape) {
  return py::array_t<float>(std::vector<py::ssize_t>(shape.begin(), shape.end()));
}

py::array_t<float> to_numpy(const Tensor& t) {
  py::array_t<float> out = new_array(t.shape());
  copy_floats(out.mutable_data(), t.data(), t.numel());
  return out;
}

bool fits_as_is(py::handle x, const Shape& sample, int64_t max_batch) {
  namespace d = py::detail;
  const d::npy_api& api = d::npy_api::get();
  if (Py_TYPE(x.ptr()) != api.PyArray_Type_ || !d::check_flags(x.ptr(), d::npy_api::NPY_ARRAY_C_CONTIGUOUS_))
    return false;
  const d::PyArray_Proxy* a = d::array_proxy(x.ptr());
  static PyObject* const float32 = py::dtype::of<float>().release().ptr();  // kept for good
  if (!api.PyArray_EquivTypes_(a->descr, float32)) return false;
  if (a->nd != static_cast<int>(sample.size()) + 1 || a->dimensions[0] < 1 || a->dimensions[0] > max_batch)
    return false;
  for (size_t i = 0; i < sample.size(); ++i)
    if (a->dimensions[i + 1] != sample[i]) return false;
  return true;
}

}  // namespace pyconv::python

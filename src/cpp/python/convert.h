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
// The other way: lists come back as tuples.
py::dict attrs_to_dict(const Attrs& a);
// The GIL released for the heavy work of a call, as py::gil_scoped_release
// does it, but with a destructor that may be unwound through: at interpreter
// shutdown, Python 3.11 ends a daemon thread that takes the GIL back with
// pthread_exit, whose unwinding aborted the process ("terminate called
// without an active exception") where it met pybind11's noexcept one.
class GilRelease {
 public:
  GilRelease() : state_(PyEval_SaveThread()) {}
  ~GilRelease() noexcept(false) { PyEval_RestoreThread(state_); }
  GilRelease(const GilRelease&) = delete;
  GilRelease& operator=(const GilRelease&) = delete;

 private:
  PyThreadState* state_;
};

// Text from a model file or a C++ message as a Python str: bytes that are
// not UTF-8 (a model file that says otherwise) come out as \xNN escapes
// instead of failing to decode.
py::str text_of(const std::string& s);
// A Python integer as int64 / uint64; out of range raises ValueError that
// starts with `what` ("argument 'units' = 2**63 is out of range ...").
int64_t int64_from(const py::handle& v, const std::string& what);
uint64_t uint64_from(const py::handle& v, const std::string& what);
Shape shape_from_sequence(const py::handle& seq);
py::tuple shape_to_tuple(const Shape& s);
// A tensor viewing the array's memory (no copy): the array must outlive it.
// The array may be read-only (np.load(..., mmap_mode="r")): a view of an
// input is only read; a caller that writes through one checks writeable().
Tensor view_of(const FloatArray& a);
// A new float32 array of this shape, uninitialised: for a result that a
// kernel writes in place (view it with Tensor::view).
py::array_t<float> new_array(const Shape& shape);
py::array_t<float> to_numpy(const Tensor& t);
// Whether x goes to a model as it is: an ndarray (not a subclass) of
// C-contiguous native float32 holding 1 to max_batch samples of `sample`.
bool fits_as_is(py::handle x, const Shape& sample, int64_t max_batch);

}  // namespace pyconv::python

// The pyconv._core extension module: exceptions, global settings, and the
// graph, kernel and quantized-model bindings. Bindings only; no logic lives here.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "core/cpu_count.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/threads.h"
#include "graph/layer.h"
#include "python/convert.h"

namespace py = pybind11;

namespace pyconv::python {
void bind_graph(py::module_& m);
void bind_kernels(py::module_& m);
void bind_quant(py::module_& m);
}

PYBIND11_MODULE(_core, m) {
  using namespace pyconv;
  m.doc() = "pyconv C++ core";
  m.attr("__version__") = PYCONV_VERSION;

  static py::exception<ShapeError> shape_error(m, "ShapeError", PyExc_ValueError);
  static py::exception<FormatError> model_file_error(m, "ModelFileError", PyExc_OSError);
  // Messages may quote bytes from a model file: set as str with \xNN
  // escapes (python::text_of), where pybind11's own translation would fail
  // to decode them and raise UnicodeDecodeError instead.
  py::register_exception_translator([](std::exception_ptr p) {
    auto raise = [](PyObject* type, const std::exception& e) {
      PyErr_SetObject(type, python::text_of(e.what()).ptr());
    };
    try {
      if (p) std::rethrow_exception(p);
    } catch (const ShapeError& e) {
      raise(shape_error.ptr(), e);
    } catch (const TypeError& e) {
      raise(PyExc_TypeError, e);
    } catch (const FormatError& e) {
      raise(model_file_error.ptr(), e);
    } catch (const IOError& e) {
      raise(PyExc_OSError, e);
    } catch (const StateError& e) {
      raise(PyExc_RuntimeError, e);
    } catch (const std::invalid_argument& e) {  // ValueError and the standard library's
      raise(PyExc_ValueError, e);
    }
  });

  m.def("set_num_threads",
        [](const py::int_& n) { set_num_threads(python::int64_from(n, "n")); }, py::arg("n"),
        "Threads used by every kernel; 0 restores the default (all cores), and more than "
        "max_threads() are capped there.");
  m.def("get_num_threads", &num_threads);
  m.def("max_threads", &max_threads);
  m.def("default_threads_source",
        [] {
          return in_forked_child() ? "1 in a forked child (as PyTorch's; set_num_threads raises it)"
                                   : default_threads().source;
        },
        "Where the default thread count comes from: PYCONV_NUM_THREADS or OMP_NUM_THREADS, "
        "else the CPU affinity mask or a cgroup CPU quota.");
  m.def("usable_cores", [] { return usable_cores().cores; });
  m.def("pool_threads", &pool_size, "Helper threads pyconv's pool has started so far.");
  m.def("set_seed",
        [](const py::int_& seed) { set_global_seed(python::uint64_from(seed, "seed")); },
        py::arg("seed"), "Seed for weight initialisation and dropout: 0 <= seed < 2**64.");
  m.def("get_seed", &global_seed);
  m.def("layer_types", &layer_types);

  python::bind_graph(m);
  python::bind_kernels(m);
  python::bind_quant(m);
}

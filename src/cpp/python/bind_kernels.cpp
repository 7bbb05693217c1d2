// Bindings for kernel selection and the matmul op (tests and benchmarks).
#include <pybind11/stl.h>

#include "core/error.h"
#include "core/threads.h"
#include "kernels/dispatch.h"
#include "kernels/int8.h"
#include "ops/matmul.h"
#include "python/convert.h"

namespace pyconv::python {

void bind_kernels(py::module_& m) {
  m.def("kernel_isa", [] { return std::string(kernels::active().isa); },
        "The instruction set of the kernels in use ('ref', 'avx2', ...).");
  m.def("available_isas", &kernels::available_isas,
        "Kernel ISAs compiled in and supported by this CPU, best last.");
  m.def("set_kernel_isa", &kernels::select_isa, py::arg("isa"),
        "Switch every kernel to another ISA (for tests and bug reports).");
  m.def("isa_override_note", [] { return kernels::isa_override_note(); });
  m.def("int8_kernel_isa",
        [] {
          const kernels::Int8Isa* isa = kernels::active_int8_isa();
          return std::string(isa ? isa->name : "ref");
        },
        "The int8 kernels a quantized model loaded now would use.");
  m.def("matmul",
        [](FloatArray a, FloatArray b, bool trans_a, bool trans_b) {
          Tensor av = view_of(a), bv = view_of(b);
          // Written in place: the result array is the output buffer.
          const Shape shape = ops::matmul_shape(av, bv, trans_a, trans_b);
          py::array_t<float> result = new_array(shape);
          Tensor c = Tensor::view(result.mutable_data(), shape);
          {
            GilRelease release;
            ops::matmul(av, bv, c, trans_a, trans_b, 1.f, 0.f, num_threads());
          }
          return result;
        },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        "op(a) @ op(b) with the active GEMM kernel.");
  m.def("gemm",
        [](FloatArray a, FloatArray b, py::array c_in, float alpha, float beta, bool trans_a,
           bool trans_b, bool prepack_b) {
          // Written in place, so c must already be what we write: no silent copy.
          if (!py::isinstance<py::array_t<float>>(c_in) || !(c_in.flags() & py::array::c_style) ||
              !c_in.writeable())
            throw TypeError("gemm: c must be a writeable, C-contiguous float32 array");
          FloatArray c = c_in.cast<FloatArray>();
          Tensor av = view_of(a), bv = view_of(b), cv = view_of(c);
          GilRelease release;
          ops::matmul(av, bv, cv, trans_a, trans_b, alpha, beta, num_threads(), prepack_b);
        },
        py::arg("a"), py::arg("b"), py::arg("c"), py::arg("alpha") = 1.f, py::arg("beta") = 0.f,
        py::arg("trans_a") = false, py::arg("trans_b") = false, py::arg("prepack_b") = false,
        "c = alpha op(a) op(b) + beta c, in place (c: float32, C-contiguous, (M, N)); "
        "prepack_b: with b packed first, as a layer's weights are for inference.");
}

}  // namespace pyconv::python

// Runtime kernel dispatch: one table of function pointers per ISA, chosen once
// from the CPU's features (or $PYCONV_ISA), switchable for tests.
#pragma once
#include <string>
#include <vector>

#include "kernels/activation.h"
#include "kernels/conv.h"
#include "kernels/depthwise.h"
#include "kernels/dropout.h"
#include "kernels/finite.h"
#include "kernels/gemm.h"
#include "kernels/lrn.h"
#include "kernels/pool.h"
#include "kernels/resample.h"
#include "kernels/winograd.h"

namespace pyconv::kernels {

struct KernelTable {
  const char* isa;
  SgemmFn sgemm;
  decltype(&ref::sgemm_packed_b_size) sgemm_packed_b_size;
  decltype(&ref::sgemm_pack_b) sgemm_pack_b;
  decltype(&ref::depthwise_forward) depthwise_forward;
  decltype(&ref::depthwise_backward_data) depthwise_backward_data;
  decltype(&ref::depthwise_backward_filter) depthwise_backward_filter;
  decltype(&ref::conv_packed_size) conv_packed_size;
  decltype(&ref::conv_pack) conv_pack;
  decltype(&ref::conv_forward_step) conv_forward_step;
  decltype(&ref::conv_forward) conv_forward;
  decltype(&ref::conv_backward_filter) conv_backward_filter;
  decltype(&ref::winograd_input) winograd_input;
  decltype(&ref::winograd_output) winograd_output;
  decltype(&ref::winograd_grad_output) winograd_grad_output;
  decltype(&ref::maxpool2d_f32) maxpool2d_f32;
  decltype(&ref::maxpool2d_backward_f32) maxpool2d_backward_f32;
  decltype(&ref::avgpool2d_f32) avgpool2d_f32;
  decltype(&ref::avgpool2d_backward_f32) avgpool2d_backward_f32;
  decltype(&ref::activation_forward_f32) activation_forward_f32;
  decltype(&ref::activation_forward_checked_f32) activation_forward_checked_f32;
  decltype(&ref::activation_backward_f32) activation_backward_f32;
  decltype(&ref::softmax_rows_f32) softmax_rows_f32;
  decltype(&ref::lrn_forward_f32) lrn_forward_f32;
  decltype(&ref::lrn_backward_f32) lrn_backward_f32;
  decltype(&ref::resample_forward) resample_forward;
  decltype(&ref::resample_backward) resample_backward;
  decltype(&ref::any_non_finite) any_non_finite;
  decltype(&ref::dropout_f32) dropout_f32;
};

// The table in use. The first call picks the best ISA the CPU runs, unless
// $PYCONV_ISA names another one that it runs.
const KernelTable& active();
// ISAs compiled in and supported by this CPU, best last; "ref" is always first.
std::vector<std::string> available_isas();
// Switches every kernel to `isa`; throws ValueError if it is not available.
void select_isa(const std::string& isa);
// A note on why $PYCONV_ISA was ignored, or "".
const std::string& isa_override_note();

}  // namespace pyconv::kernels

// The layer types this build has, known at compile time: every one of
// layers.inc, or those PYCONV_LAYERS names (CMake generates
// selected_layers.inc). Code that only some layers reach asks here, so that a
// runtime-only build for one model links only what its layers use. Only the
// core's own .cpp files include it (the generated file is on their path).
#pragma once
#include <string_view>

#ifndef PYCONV_WINOGRAD
#define PYCONV_WINOGRAD 1  // -DPYCONV_WINOGRAD=OFF leaves Winograd convolution out
#endif
#ifndef PYCONV_ROW_BANDS
#define PYCONV_ROW_BANDS 1  // -DPYCONV_ROW_BANDS=OFF leaves float inference's bands of rows out
#endif

namespace pyconv {

inline constexpr std::string_view kBuiltLayers[] = {
#define PCV_LAYER(type, factory) type,
#include "selected_layers.inc"
#undef PCV_LAYER
};

constexpr bool layer_built(std::string_view type) {
  for (std::string_view t : kBuiltLayers)
    if (t == type) return true;
  return false;
}

// Any convolution layer: each can take every path of ops/conv.cpp (Conv2D's
// groups reach the depthwise kernel).
inline constexpr bool kConvBuilt = layer_built("Conv2D") || layer_built("DepthwiseConv2D") ||
                                   layer_built("SeparableConv2D") || layer_built("Conv1D") ||
                                   layer_built("Conv2DTranspose");
inline constexpr bool kWinogradBuilt = PYCONV_WINOGRAD && kConvBuilt;
// Batch-1 float inference runs its first convolutions and poolings in bands
// of rows on several threads (Graph::find_row_ops): speed only.
inline constexpr bool kRowBandsBuilt = PYCONV_ROW_BANDS && kConvBuilt;
// Inference folds BatchNormalization into the layer before it.
inline constexpr bool kBatchNormBuilt = layer_built("BatchNormalization");

}  // namespace pyconv

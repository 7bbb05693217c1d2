// A small valid quantized model record (what pyconv.quantize writes): a
// quantize, an int8 convolution, max pooling, a reshape, an int8 dense
// layer, a dequantize and a float softmax, on (6, 6, 1) inputs. The fuzzer's
// seed corpus starts from it.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "io/pcv_format.h"

namespace pyconv::test {

struct SampleQuantized {
  io::ModelRecord record;
  std::vector<std::vector<int32_t>> storage;  // 4-byte words: room for int8 or int32 values

  template <class T>
  void add(const std::string& name, const Shape& shape, io::layout::DType dtype,
           const std::vector<T>& values) {
    std::vector<int32_t> words(values.size());
    for (size_t i = 0; i < values.size(); ++i) {
      if (dtype == io::layout::kInt8)
        reinterpret_cast<int8_t*>(words.data())[i] = static_cast<int8_t>(values[i]);
      else
        words[i] = static_cast<int32_t>(values[i]);
    }
    storage.push_back(std::move(words));
    record.tensors.push_back({name, shape, storage.back().data(), nullptr, dtype});
  }
};

inline Attrs quant_node(const std::string& type, const std::string& name, const Shape& out) {
  Attrs a;
  a.set("type", type);
  a.set("name", name);
  a.set("output_shape", std::vector<int64_t>(out.begin(), out.end()));
  return a;
}

inline SampleQuantized sample_quantized() {
  using io::layout::kInt32;
  using io::layout::kInt8;
  SampleQuantized s;
  io::ModelRecord& r = s.record;
  r.input_shapes = {{6, 6, 1}};
  r.meta.set("pyconv.quantized", int64_t{1});
  Attrs q = quant_node("QuantizeLinear", "in", {6, 6, 1});
  q.set("scale", 1.0 / 255), q.set("zero_point", int64_t{-128});
  Attrs conv = quant_node("QConv2D", "conv", {6, 6, 2});
  conv.set("kernel_size", std::vector<int64_t>{3, 3});
  conv.set("strides", std::vector<int64_t>{1, 1});
  conv.set("dilation_rate", std::vector<int64_t>{1, 1});
  conv.set("pad_before", std::vector<int64_t>{1, 1});
  conv.set("groups", int64_t{1});
  for (const char* k : {"input_zero_point", "activation_min"}) conv.set(k, int64_t{-128});
  conv.set("output_zero_point", int64_t{-128}), conv.set("activation_max", int64_t{127});
  s.add<int>("quant/conv/kernel", {3, 3, 1, 2}, kInt8, {1, -2, 3, -4, 5, -6, 7, -8, 9, 10, -11, 12, -13, 14, -15, 16, -17, 18});
  s.add<int>("quant/conv/bias", {2}, kInt32, {100, -100});
  s.add<int>("quant/conv/multiplier", {2}, kInt32, {1518500250, 1201322322});
  s.add<int>("quant/conv/shift", {2}, kInt32, {-3, -2});
  Attrs pool = quant_node("QMaxPooling2D", "pool", {3, 3, 2});
  pool.set("kernel_size", std::vector<int64_t>{2, 2});
  pool.set("strides", std::vector<int64_t>{2, 2});
  pool.set("pad_before", std::vector<int64_t>{0, 0});
  Attrs flat = quant_node("Reshape", "flat", {18});
  Attrs dense = quant_node("QDense", "dense", {3});
  for (const char* k : {"input_zero_point", "output_zero_point", "activation_min"}) dense.set(k, int64_t{-128});
  dense.set("activation_max", int64_t{127});
  std::vector<int> w(54);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int>(i * 37 % 255) - 127;
  s.add<int>("quant/dense/kernel", {18, 3}, kInt8, w);
  s.add<int>("quant/dense/bias", {3}, kInt32, {5, 0, -5});
  s.add<int>("quant/dense/multiplier", {3}, kInt32, {1300000000, 1400000000, 1500000000});
  s.add<int>("quant/dense/shift", {3}, kInt32, {-8, -8, -7});
  Attrs dq = quant_node("DequantizeLinear", "out", {3});
  dq.set("scale", 0.05), dq.set("zero_point", int64_t{-128});
  Attrs soft = quant_node("FActivation", "softmax", {3});
  soft.set("activation", std::string("softmax"));
  const Attrs nodes[] = {q, conv, pool, flat, dense, dq, soft};
  for (size_t k = 0; k < 7; ++k) r.nodes.push_back({nodes[k], {static_cast<int32_t>(k) - 1}});
  r.outputs = {6};
  return s;
}

}  // namespace pyconv::test

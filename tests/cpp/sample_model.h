// A small model record that uses every feature of the .pcv format: a
// residual DAG over two model inputs, attributes of every type, and tensors
// of rank 0, 1, 2, 4 and 8 plus an empty one. Shared by the tests and the
// fuzz corpus generator.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "io/pcv_format.h"

namespace pyconv::test {

struct SampleModel {
  io::ModelRecord record;
  std::vector<std::vector<float>> storage;  // what the record's tensors point into
  std::vector<std::vector<int32_t>> int_storage;

  void add_tensor(const std::string& name, const Shape& shape) {
    std::vector<float> values(static_cast<size_t>(shape_numel(shape)));
    for (size_t i = 0; i < values.size(); ++i)
      values[i] = static_cast<float>(std::sin(0.7 * static_cast<double>(i + storage.size())));
    storage.push_back(std::move(values));
    record.tensors.push_back({name, shape, storage.back().data(), nullptr});
  }

  // An int8 or int32 tensor (a quantized model's weights and factors):
  // values -100 to 100 repeating, times 10^6 for int32.
  void add_int_tensor(const std::string& name, const Shape& shape, io::layout::DType dtype) {
    const size_t n = static_cast<size_t>(shape_numel(shape));
    std::vector<int32_t> words(n);  // 4 bytes each: room for either type
    for (size_t i = 0; i < n; ++i) {
      const int32_t v = static_cast<int32_t>(i % 201) - 100;
      if (dtype == io::layout::kInt8)
        reinterpret_cast<int8_t*>(words.data())[i] = static_cast<int8_t>(v);
      else
        words[i] = v * 1000000;
    }
    int_storage.push_back(std::move(words));
    record.tensors.push_back({name, shape, int_storage.back().data(), nullptr, dtype});
  }
};

inline Attrs node(const std::string& type, const std::string& name) {
  Attrs a;
  a.set("type", type);
  a.set("name", name);
  return a;
}

// `full` = false gives a minimal record: one input, one node, one tensor.
inline SampleModel sample_model(bool full = true) {
  SampleModel s;
  s.storage.reserve(16);  // tensors point into the vectors: no reallocation
  io::ModelRecord& m = s.record;
  if (!full) {
    m.input_shapes = {{4}};
    m.nodes.push_back({node("Dense", "d"), {-1}});
    m.outputs = {0};
    s.add_tensor("param/d/kernel", {4, 2});
    return s;
  }
  m.input_shapes = {{8, 8, 1}, {10}};
  Attrs conv = node("Conv2D", "conv1");
  conv.set("filters", int64_t{4});
  conv.set("kernel_size", std::vector<int64_t>{3, 3});
  conv.set("padding", std::string("same"));
  conv.set("use_bias", true);
  conv.set("scale", 0.5);
  m.nodes.push_back({conv, {-1}});                                 // 0: conv1(input 0)
  m.nodes.push_back({node("Conv2D", "conv2"), {0}});               // 1: conv2(conv1)
  m.nodes.push_back({node("Add", "add"), {0, 1}});                 // 2: residual add
  m.nodes.push_back({node("Flatten", "flat"), {2}});               // 3
  m.nodes.push_back({node("Dense", "head"), {3}});                 // 4
  m.nodes.push_back({node("Dense", "side"), {-2}});                // 5: on input 1
  m.outputs = {4, 5};
  m.loss.set("type", std::string("CategoricalCrossentropy"));
  m.loss.set("from_logits", true);
  m.optimizer.set("type", std::string("Adam"));
  m.optimizer.set("learning_rate", 1e-3);
  m.optimizer.set("amsgrad", false);
  m.meta.set("step", int64_t{123456789012});
  m.meta.set("rng_state", std::vector<int64_t>{std::numeric_limits<int64_t>::min(), -1, 0,
                                               std::numeric_limits<int64_t>::max()});
  m.meta.set("empty_list", std::vector<int64_t>{});
  m.meta.set("version", std::string("0.1.0"));
  m.meta.set("note", std::string("caf\xc3\xa9 \x00 end", 12));
  m.meta.set("empty", std::string());
  m.meta.set("neg_zero", -0.0);
  m.meta.set("tiny", 4.9e-324);
  m.meta.set("aa", int64_t{1});
  m.meta.set("ab", int64_t{2});
  s.add_tensor("param/conv1/kernel", {3, 3, 1, 4});
  s.add_tensor("param/conv1/bias", {4});
  s.add_tensor("param/conv2/kernel", {3, 3, 4, 4});
  s.add_tensor("param/head/kernel", {256, 3});
  s.add_tensor("state/step_scale", {});
  s.add_tensor("optimizer/empty", {0, 5});
  s.add_tensor("param/side/rank8", {1, 2, 1, 1, 1, 1, 1, 3});
  s.add_int_tensor("quant/q/kernel", {3, 5, 7}, io::layout::kInt8);
  s.add_int_tensor("quant/q/bias", {7}, io::layout::kInt32);
  return s;
}

}  // namespace pyconv::test

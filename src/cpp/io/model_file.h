// A Graph to and from the .pcv record (io/pcv_format.h): its layers and
// wiring, weights and state, loss, optimizer and its slots, the training step
// and free-form metadata, so that training resumed from a file continues
// exactly as if it had not stopped.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "io/pcv_format.h"
#include "quant/quantized_model.h"

namespace pyconv {

// The whole model as bytes, and saved atomically to a file.
std::vector<uint8_t> save_model_bytes(const Graph& g);
void save_model_file(const Graph& g, const std::string& path);

// A model from a file or bytes, validated first (FormatError names what is
// wrong). A file's weights are used in place from its read-only mapping
// until something writes them; bytes are copied. Its weights are packed for
// inference before it is returned (Graph::prepare_inference).
std::unique_ptr<Graph> load_model_file(const std::string& path);
std::unique_ptr<Graph> load_model_memory(const void* data, size_t size);

// A model of either kind from a file or bytes: `graph` is set for a float
// model, `quantized` for a quantized one (pyconv.quantize).
struct AnyModel {
  std::unique_ptr<Graph> graph;
  std::unique_ptr<QuantizedModel> quantized;
};
AnyModel load_any_model_file(const std::string& path);
AnyModel load_any_model_memory(const void* data, size_t size);

// Replaces g's weights with the same-named ones of a saved model (layer
// names and shapes must match; optimizer state is left alone).
void load_weights_file(Graph& g, const std::string& path);

namespace io {
ModelRecord to_record(const Graph& g);  // hold g.read_lock() while the record is used
std::unique_ptr<Graph> from_record(const ModelRecord& r);
}  // namespace io

}  // namespace pyconv

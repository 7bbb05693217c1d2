// The .pcv model file: a record of everything a trained model is (the DAG of
// layers, losses, optimizer, free-form metadata and every named tensor), its
// encoding to bytes and back, and atomic file save / mmap load.
// docs/pcv-format.md describes the bytes on disk.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/shape.h"
#include "graph/attrs.h"
#include "io/pcv_layout.h"

namespace pyconv::io {

struct NodeRecord {             // one layer of the DAG
  Attrs attrs;                  // {"type": "Conv2D", "name": "conv1", "filters": 32, ...}
  std::vector<int32_t> inputs;  // node indices; -1 - k means the model's input k
};

struct TensorRecord {
  std::string name;  // "param/conv1/kernel", "state/bn/moving_mean", "optimizer/conv1/kernel/m", ...
  Shape shape;
  // shape_numel(shape) values of type dtype. Points into the loaded bytes
  // (zero-copy) or into a buffer that `owner` holds; may be null only when
  // the tensor has no elements.
  const void* data = nullptr;
  std::shared_ptr<const void> owner;  // keeps the memory `data` points into alive
  layout::DType dtype = layout::kFloat32;

  const float* floats() const { return static_cast<const float*>(data); }  // float32 only
};

struct ModelRecord {
  std::vector<Shape> input_shapes;    // per-sample shapes of the model's inputs
  std::vector<NodeRecord> nodes;      // topological order: inputs refer only to earlier nodes
  std::vector<int32_t> outputs;       // node indices of the outputs
  Attrs loss, optimizer;              // empty Attrs (no "type") when the model was not compiled
  Attrs meta;                         // training step, RNG state, library version, ... (free-form)
  std::vector<TensorRecord> tensors;  // every tensor, each name unique
};

// Serialises to bytes (little-endian, tensors 64-byte aligned in the file).
// Checks the record first (the same rules decode applies, so a saved file can
// always be loaded) and throws ValueError naming what is wrong, e.g. a NaN weight.
std::vector<uint8_t> encode(const ModelRecord& m);

// Validates everything, then returns a record whose tensors point into `data`
// (the caller's `owner` keeps it alive). Tensors are copied instead when
// `owner` is null, when `data` is not 64-byte aligned, or on a big-endian host.
// Throws FormatError naming what is wrong.
ModelRecord decode(const void* data, size_t size, std::shared_ptr<const void> owner);

// Atomic save: a temporary file in the same folder, fsync, then rename; on any
// error the temporary file is removed, the old file is untouched, and IOError
// says why (path + strerror).
void write_file(const std::string& path, const std::vector<uint8_t>& bytes);

// Maps the file read-only (mmap; falls back to reading it) and decodes it;
// tensors point into the mapping, which stays alive as long as any
// TensorRecord::owner does. IOError if the file cannot be read, FormatError
// (prefixed with the path) if its contents are invalid.
ModelRecord read_file(const std::string& path);

}  // namespace pyconv::io

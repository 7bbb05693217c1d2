// Maps a layer type name to its factory, from the list in layers.inc (or the
// part of it a build selected with PYCONV_LAYERS: see src/cpp/CMakeLists.txt).
#include "core/error.h"
#include "graph/layer.h"

namespace pyconv {

#define PCV_LAYER(type, factory) std::unique_ptr<Layer> factory(const Attrs& attrs);
#include "graph/layers/layers.inc"
#undef PCV_LAYER

namespace {
struct Entry {
  const char* type;
  std::unique_ptr<Layer> (*factory)(const Attrs&);
};
const Entry kLayers[] = {
#define PCV_LAYER(type, factory) {type, factory},
#include "selected_layers.inc"
#undef PCV_LAYER
};
}  // namespace

std::vector<std::string> layer_types() {
  std::vector<std::string> out;
  for (const Entry& e : kLayers) out.push_back(e.type);
  return out;
}

std::unique_ptr<Layer> create_layer(const Attrs& attrs) {
  const std::string type = attrs.type();
  for (const Entry& e : kLayers)
    if (type == e.type) return e.factory(attrs);
  std::string known;
  for (const Entry& e : kLayers) known += (known.empty() ? "" : ", ") + std::string(e.type);
  const std::string who = attrs.has("name") ? cat("layer '", attrs.name(), "': ") : "";
  if (!attrs.has("type"))
    throw ValueError(cat(who, "missing required argument 'type'; expected one of ", known));
  throw ValueError(cat(who, "unknown layer type '", type, "'; expected one of ", known));
}

}  // namespace pyconv

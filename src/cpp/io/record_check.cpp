#include "io/record_check.h"

#include <cstring>
#include <set>

#include "core/error.h"
#include "core/finite.h"
#include "io/byte_io.h"
#include "io/pcv_layout.h"

namespace pyconv::io {

namespace {

std::string dims_str(const Shape& s) {
  std::string out = "(";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + (s.size() == 1 ? ",)" : ")");
}

std::string attrs_problem(const Attrs& a, const std::string& who) {
  for (const auto& [key, value] : a.values()) {
    if (key.empty() || key.size() > layout::kMaxNameLength)
      return cat(who, " has an attribute key of ", key.size(), " bytes (allowed: 1 to ",
                 layout::kMaxNameLength, ")");
    if (auto* s = std::get_if<std::string>(&value); s && s->size() > layout::kMaxStringLength)
      return cat(who, " attribute '", key, "' is a string of ", s->size(),
                 " bytes (at most ", layout::kMaxStringLength, ")");
    if (auto* l = std::get_if<std::vector<int64_t>>(&value); l && l->size() > UINT32_MAX)
      return cat(who, " attribute '", key, "' is a list of ", l->size(), " integers");
  }
  return "";
}

std::string input_ref_problem(int32_t ref, size_t node, const ModelRecord& m) {
  if (ref >= 0) {
    if (static_cast<size_t>(ref) >= node)
      return cat("node ", node, " takes node ", ref,
                 " as input, which is not an earlier node (nodes must be in topological order)");
    return "";
  }
  const int64_t k = -1 - static_cast<int64_t>(ref);
  if (static_cast<size_t>(k) >= m.input_shapes.size())
    return cat("node ", node, " takes model input ", k, " (written ", ref, ") but the model has ",
               m.input_shapes.size(), " input(s)");
  return "";
}

bool is_nan(float v) {
  uint32_t bits;
  std::memcpy(&bits, &v, 4);
  return (bits & 0x7FFFFFFFu) > 0x7F800000u;
}

std::string tensor_problem(const TensorRecord& t) {
  if (t.name.empty() || t.name.size() > layout::kMaxNameLength)
    return cat("a tensor name has ", t.name.size(), " bytes (allowed: 1 to ",
               layout::kMaxNameLength, ")");
  if (t.shape.size() > layout::kMaxRank)
    return cat("tensor '", t.name, "' has rank ", t.shape.size(), " (at most ", layout::kMaxRank,
               ")");
  if (t.dtype >= layout::kDTypeCount)
    return cat("tensor '", t.name, "' has unknown dtype ", static_cast<uint32_t>(t.dtype));
  const int64_t bytes = tensor_bytes(t.shape, t.dtype);
  if (bytes < 0)
    return cat("tensor '", t.name, "' has an invalid shape ", dims_str(t.shape),
               " (a negative dimension or a size that overflows)");
  const int64_t n = bytes / static_cast<int64_t>(layout::dtype_size(t.dtype));
  if (n > 0 && !t.data) return cat("tensor '", t.name, "' has no data");
  if (t.dtype != layout::kFloat32) return "";  // every integer is a valid value
  const int64_t bad = n > 0 ? first_non_finite(t.floats(), n) : -1;
  if (bad >= 0)
    return cat("tensor '", t.name, "' holds ", is_nan(t.floats()[bad]) ? "NaN" : "infinity",
               " at element ", bad, " of ", n, "; non-finite weights are refused");
  return "";
}

}  // namespace

int64_t tensor_bytes(const Shape& shape, layout::DType dtype) {
  uint64_t bytes = layout::dtype_size(dtype);
  for (int64_t d : shape)
    if (d < 0 || !checked_mul(bytes, static_cast<uint64_t>(d), &bytes)) return -1;
  return bytes > static_cast<uint64_t>(INT64_MAX) ? -1 : static_cast<int64_t>(bytes);
}

std::string record_problem(const ModelRecord& m) {
  for (size_t i = 0; i < m.input_shapes.size(); ++i) {
    const Shape& s = m.input_shapes[i];
    bool dims_ok = s.size() <= layout::kMaxRank && tensor_bytes(s) >= 0;
    for (int64_t d : s) dims_ok = dims_ok && d >= 1;
    if (!dims_ok)
      return cat("model input ", i, " has shape ", dims_str(s),
                 " (want rank <= 8 and every dimension >= 1)");
  }
  if (m.input_shapes.size() > INT32_MAX || m.nodes.size() > INT32_MAX)
    return cat("the model has too many inputs or nodes");
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const NodeRecord& node = m.nodes[i];
    const std::string who = cat("node ", i);
    auto type = node.attrs.values().find("type");
    if (type == node.attrs.values().end() || !std::holds_alternative<std::string>(type->second) ||
        std::get<std::string>(type->second).empty())
      return cat(who, " has no string attribute 'type'");
    if (std::string p = attrs_problem(node.attrs, who); !p.empty()) return p;
    for (int32_t ref : node.inputs)
      if (std::string p = input_ref_problem(ref, i, m); !p.empty()) return p;
  }
  for (size_t i = 0; i < m.outputs.size(); ++i)
    if (m.outputs[i] < 0 || static_cast<size_t>(m.outputs[i]) >= m.nodes.size())
      return cat("output ", i, " is node ", m.outputs[i], " but the model has ", m.nodes.size(),
                 " node(s)");
  if (std::string p = attrs_problem(m.loss, "the loss"); !p.empty()) return p;
  if (std::string p = attrs_problem(m.optimizer, "the optimizer"); !p.empty()) return p;
  if (std::string p = attrs_problem(m.meta, "the metadata"); !p.empty()) return p;
  std::set<std::string> names;
  for (const TensorRecord& t : m.tensors) {
    if (std::string p = tensor_problem(t); !p.empty()) return p;
    if (!names.insert(t.name).second) return cat("two tensors are named '", t.name, "'");
  }
  return "";
}

}  // namespace pyconv::io

#include "io/graph_reader.h"

namespace pyconv::io {

namespace {

// The fewest bytes an encoded item can take, so counts can be bounded.
constexpr uint64_t kMinAttr = 4 + 1 + 1 + 1;  // key length, 1-byte key, tag, bool
constexpr uint64_t kMinAttrs = 4;             // an empty attribute map
constexpr uint64_t kMinNode = kMinAttrs + 4;  // no attributes, no inputs

AttrValue read_value(ByteReader& r, const std::string& what) {
  const uint8_t tag = r.u8(what + " type tag");
  switch (tag) {
    case layout::kBool: {
      const uint8_t b = r.u8(what);
      if (b > 1) r.fail(cat(what, " is a bool stored as ", int(b), " (want 0 or 1)"));
      return b == 1;
    }
    case layout::kInt:
      return r.i64(what);
    case layout::kFloat:
      return r.f64(what);
    case layout::kString:
      return r.str(what, 0, layout::kMaxStringLength);
    case layout::kIntList: {
      std::vector<int64_t> list(r.count(what + " item count", 8));
      for (int64_t& v : list) v = r.i64(what);
      return list;
    }
    default:
      r.fail(cat(what, " has unknown type tag ", int(tag)));
  }
}

Attrs read_attrs(ByteReader& r, const std::string& who) {
  Attrs attrs;
  const uint32_t n = r.count(who + " attribute count", kMinAttr);
  for (uint32_t i = 0; i < n; ++i) {
    std::string key = r.str(cat(who, " attribute key"), 1, layout::kMaxNameLength);
    if (attrs.has(key)) r.fail(cat(who, " has attribute '", key, "' twice"));
    AttrValue value = read_value(r, cat(who, " attribute '", key, "'"));
    attrs.set(key, std::move(value));
  }
  return attrs;
}

}  // namespace

void read_graph_section(ByteReader& r, ModelRecord& m) {
  m.input_shapes.resize(r.count("input count", 4));
  for (size_t i = 0; i < m.input_shapes.size(); ++i)
    m.input_shapes[i] = r.shape(cat("input ", i, " shape"));

  m.nodes.resize(r.count("node count", kMinNode));
  for (size_t i = 0; i < m.nodes.size(); ++i) {
    const std::string who = cat("node ", i);
    m.nodes[i].attrs = read_attrs(r, who);
    m.nodes[i].inputs.resize(r.count(who + " input count", 4));
    for (int32_t& ref : m.nodes[i].inputs) ref = r.i32(who + " input");
  }

  m.outputs.resize(r.count("output count", 4));
  for (int32_t& out : m.outputs) out = r.i32("output");

  m.loss = read_attrs(r, "loss");
  m.optimizer = read_attrs(r, "optimizer");
  m.meta = read_attrs(r, "meta");
  r.finish();
}

}  // namespace pyconv::io

// encode(): ModelRecord -> .pcv bytes. Layout: header, graph section, tensor
// table, tensor data (each tensor 64-byte aligned), CRC-32C.
#include <cstring>

#include "core/error.h"
#include "io/byte_io.h"
#include "io/crc32c.h"
#include "io/pcv_format.h"
#include "io/pcv_layout.h"
#include "io/pcv_testing.h"
#include "io/record_check.h"

namespace pyconv::io {

namespace {

// Appends little-endian values to a growing byte vector.
class ByteWriter {
 public:
  void u8(uint8_t v) { out_.push_back(v); }
  void u32(uint32_t v) {
    uint8_t b[4];
    store_u32(b, v);
    out_.insert(out_.end(), b, b + 4);
  }
  void u64(uint64_t v) {
    uint8_t b[8];
    store_u64(b, v);
    out_.insert(out_.end(), b, b + 8);
  }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void f64(double v) {
    uint64_t bits;
    std::memcpy(&bits, &v, 8);
    u64(bits);
  }
  // Sizes were checked by record_problem, so they fit in a u32.
  void str(const std::string& s) {
    u32(static_cast<uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void shape(const Shape& s) {
    u32(static_cast<uint32_t>(s.size()));
    for (int64_t d : s) i64(d);
  }
  const std::vector<uint8_t>& bytes() const { return out_; }

 private:
  std::vector<uint8_t> out_;
};

void write_attrs(ByteWriter& w, const Attrs& attrs) {
  w.u32(static_cast<uint32_t>(attrs.values().size()));
  for (const auto& [key, value] : attrs.values()) {
    w.str(key);
    if (auto* b = std::get_if<bool>(&value)) {
      w.u8(layout::kBool);
      w.u8(*b ? 1 : 0);
    } else if (auto* i = std::get_if<int64_t>(&value)) {
      w.u8(layout::kInt);
      w.i64(*i);
    } else if (auto* f = std::get_if<double>(&value)) {
      w.u8(layout::kFloat);
      w.f64(*f);
    } else if (auto* s = std::get_if<std::string>(&value)) {
      w.u8(layout::kString);
      w.str(*s);
    } else {
      const auto& list = std::get<std::vector<int64_t>>(value);
      w.u8(layout::kIntList);
      w.u32(static_cast<uint32_t>(list.size()));
      for (int64_t v : list) w.i64(v);
    }
  }
}

std::vector<uint8_t> graph_section(const ModelRecord& m) {
  ByteWriter w;
  w.u32(static_cast<uint32_t>(m.input_shapes.size()));
  for (const Shape& s : m.input_shapes) w.shape(s);
  w.u32(static_cast<uint32_t>(m.nodes.size()));
  for (const NodeRecord& node : m.nodes) {
    write_attrs(w, node.attrs);
    w.u32(static_cast<uint32_t>(node.inputs.size()));
    for (int32_t ref : node.inputs) w.i32(ref);
  }
  w.u32(static_cast<uint32_t>(m.outputs.size()));
  for (int32_t out : m.outputs) w.i32(out);
  write_attrs(w, m.loss);
  write_attrs(w, m.optimizer);
  write_attrs(w, m.meta);
  return w.bytes();
}

[[noreturn]] void too_large() { throw ValueError("cannot save model: it is too large to encode"); }

uint64_t add(uint64_t a, uint64_t b) {
  if (!checked_add(a, b, &a)) too_large();
  return a;
}

uint64_t align(uint64_t v) {
  if (!checked_align(v, layout::kTensorAlign, &v)) too_large();
  return v;
}

// Bytes one tensor's table entry takes: name, dtype, rank, dims, offset, length.
uint64_t table_entry_size(const TensorRecord& t) {
  return 4 + t.name.size() + 4 + 4 + 8 * t.shape.size() + 8 + 8;
}

}  // namespace

std::vector<uint8_t> encode(const ModelRecord& m) {
  if (std::string problem = record_problem(m); !problem.empty())
    throw ValueError(cat("cannot save model: ", problem));
  return testing::encode_unchecked(m);
}

std::vector<uint8_t> testing::encode_unchecked(const ModelRecord& m) {
  if (m.tensors.size() > UINT32_MAX) too_large();
  for (const TensorRecord& t : m.tensors)
    if (t.dtype >= layout::kDTypeCount || tensor_bytes(t.shape, t.dtype) < 0 ||
        (tensor_bytes(t.shape, t.dtype) > 0 && !t.data))
      throw ValueError(cat("cannot encode tensor '", t.name, "': bad shape or no data"));

  const std::vector<uint8_t> graph = graph_section(m);
  uint64_t table_size = 4;
  for (const TensorRecord& t : m.tensors) table_size = add(table_size, table_entry_size(t));
  const uint64_t table_offset = add(layout::kHeaderSize, graph.size());
  const uint64_t data_offset = align(add(table_offset, table_size));

  // Place each tensor, then write the table that records where.
  std::vector<uint64_t> offsets;
  uint64_t data_end = data_offset;
  for (const TensorRecord& t : m.tensors) {
    data_end = align(data_end);
    offsets.push_back(data_end);
    data_end = add(data_end, static_cast<uint64_t>(tensor_bytes(t.shape, t.dtype)));
  }
  ByteWriter table;
  table.u32(static_cast<uint32_t>(m.tensors.size()));
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorRecord& t = m.tensors[i];
    table.str(t.name);
    table.u32(t.dtype);
    table.shape(t.shape);
    table.u64(offsets[i]);
    table.u64(static_cast<uint64_t>(tensor_bytes(t.shape, t.dtype)));
  }

  const uint64_t file_length = add(data_end, layout::kChecksumSize);
  if (file_length > SIZE_MAX) too_large();
  std::vector<uint8_t> out(static_cast<size_t>(file_length), 0);  // padding stays zero
  uint8_t* p = out.data();
  std::memcpy(p, layout::kMagic, sizeof layout::kMagic);
  store_u32(p + layout::kVersionAt, layout::kVersion);
  store_u32(p + layout::kFlagsAt, 0);
  store_u64(p + layout::kFileLengthAt, file_length);
  store_u64(p + layout::kGraphOffsetAt, layout::kHeaderSize);
  store_u64(p + layout::kGraphSizeAt, graph.size());
  store_u64(p + layout::kTableOffsetAt, table_offset);
  store_u64(p + layout::kTableSizeAt, table_size);
  store_u64(p + layout::kDataOffsetAt, data_offset);
  store_u64(p + layout::kDataSizeAt, data_end - data_offset);
  std::memcpy(p + layout::kHeaderSize, graph.data(), graph.size());
  std::memcpy(p + table_offset, table.bytes().data(), table.bytes().size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const TensorRecord& t = m.tensors[i];
    store_elements(p + offsets[i], t.data, static_cast<size_t>(tensor_bytes(t.shape, t.dtype)),
                   layout::dtype_size(t.dtype));
  }
  const size_t body = out.size() - layout::kChecksumSize;
  store_u32(p + body, crc32c(p, body));
  return out;
}

}  // namespace pyconv::io

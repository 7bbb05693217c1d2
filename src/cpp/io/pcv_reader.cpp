// decode(): .pcv bytes -> ModelRecord. Order of checks: magic, version,
// flags, length, checksum, section bounds, graph, tensor table, tensor data,
// then the record rules shared with the writer. Nothing is allocated before
// the size it depends on has been checked against the bytes at hand.
#include <algorithm>
#include <cstring>
#include <new>

#include "core/error.h"
#include "io/byte_io.h"
#include "io/byte_reader.h"
#include "io/crc32c.h"
#include "io/graph_reader.h"
#include "io/pcv_format.h"
#include "io/pcv_layout.h"
#include "io/record_check.h"

namespace pyconv::io {

namespace {

[[noreturn]] void corrupt(const std::string& problem) {
  throw FormatError(cat("model file is corrupt: ", problem));
}

std::string hex(uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s;
  do {
    s.insert(s.begin(), digits[v & 15]);
    v >>= 4;
  } while (v);
  return "0x" + s;
}

struct Section {
  const char* name;
  uint64_t offset, size;
};

// Magic, version, flags, length and checksum: whether these are the intact
// bytes of a .pcv file this build can read at all.
void check_header(const uint8_t* p, size_t size) {
  if (size < sizeof layout::kMagic || std::memcmp(p, layout::kMagic, sizeof layout::kMagic) != 0)
    throw FormatError(cat("not a .pcv model file: it does not start with the .pcv magic bytes (",
                          size, " bytes)"));
  if (size < layout::kMinFileSize)
    throw FormatError(cat("model file is truncated: expected at least ", layout::kMinFileSize,
                          " bytes, found ", size));
  const uint32_t version = load_u32(p + layout::kVersionAt);
  if (version > layout::kVersion)
    throw FormatError(cat("model file has format version ", version,
                          ", newer than this pyconv reads (version ", layout::kVersion,
                          "); upgrade pyconv to load it"));
  if (version != layout::kVersion)
    throw FormatError(cat("model file has unsupported format version ", version));
  const uint32_t flags = load_u32(p + layout::kFlagsAt);
  if (flags != 0) corrupt(cat("unknown header flags ", hex(flags)));
  if (load_u64(p + layout::kReservedAt) != 0) corrupt("the header's reserved field is not zero");
  const uint64_t length = load_u64(p + layout::kFileLengthAt);
  if (length > size)
    throw FormatError(cat("model file is truncated: expected ", length, " bytes, found ", size));
  if (length < size)
    corrupt(cat("length mismatch: the header says ", length, " bytes, found ", size));
  const size_t body = size - layout::kChecksumSize;
  const uint32_t stored = load_u32(p + body), computed = crc32c(p, body);
  if (stored != computed)
    corrupt(cat("checksum mismatch (stored ", hex(stored), ", computed ", hex(computed), ")"));
}

// Sections lie in order (graph, table, data) between the header and the
// checksum, without overlapping; tensor data starts 64-byte aligned.
void check_sections(const Section (&sections)[3], size_t size) {
  const uint64_t limit = size - layout::kChecksumSize;
  uint64_t prev_end = layout::kHeaderSize;
  for (const Section& s : sections) {
    uint64_t end;
    if (!checked_add(s.offset, s.size, &end) || s.offset < prev_end || end > limit)
      corrupt(cat(s.name, " [", s.offset, ", +", s.size, ") is outside bytes [", prev_end, ", ",
                  limit, ") where it must lie"));
    prev_end = end;
  }
  if (sections[2].offset % layout::kTensorAlign != 0)
    corrupt(cat("tensor data starts at offset ", sections[2].offset, ", not a multiple of ",
                layout::kTensorAlign));
}

struct TableEntry {
  uint64_t offset, bytes;
};

// Reads the tensor table into m.tensors (names and shapes) and returns where
// each tensor's bytes lie, checked to be inside the data section, aligned and
// not overlapping.
std::vector<TableEntry> read_table(ByteReader& r, const Section& data, ModelRecord& m) {
  constexpr uint64_t kMinEntry = 4 + 1 + 4 + 4 + 8 + 8;  // 1-byte name, rank 0
  m.tensors.resize(r.count("tensor count", kMinEntry));
  std::vector<TableEntry> entries(m.tensors.size());
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    TensorRecord& t = m.tensors[i];
    t.name = r.str(cat("tensor ", i, " name"), 1, layout::kMaxNameLength);
    const std::string who = cat("tensor '", t.name, "'");
    const uint32_t dtype = r.u32(who + " dtype");
    if (dtype >= layout::kDTypeCount) r.fail(cat(who, " has unknown dtype ", dtype));
    t.dtype = static_cast<layout::DType>(dtype);
    t.shape = r.shape(who + " shape");
    const int64_t expected = tensor_bytes(t.shape, t.dtype);
    if (expected < 0)
      r.fail(who + " has a negative dimension or a size that overflows 64 bits");
    TableEntry& e = entries[i];
    e.offset = r.u64(who + " offset");
    e.bytes = r.u64(who + " byte length");
    if (e.bytes != static_cast<uint64_t>(expected))
      r.fail(cat(who, " has byte length ", e.bytes, " but its shape needs ", expected));
    uint64_t end;
    if (!checked_add(e.offset, e.bytes, &end) || e.offset < data.offset ||
        end > data.offset + data.size)
      r.fail(cat(who, " data [", e.offset, ", +", e.bytes, ") is outside the tensor data [",
                 data.offset, ", +", data.size, ")"));
    if (e.offset % layout::kTensorAlign != 0)
      r.fail(cat(who, " data starts at offset ", e.offset, ", not a multiple of ",
                 layout::kTensorAlign));
  }
  r.finish();

  std::vector<size_t> order(entries.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return entries[a].offset != entries[b].offset ? entries[a].offset < entries[b].offset
                                                  : entries[a].bytes < entries[b].bytes;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const TableEntry &prev = entries[order[k - 1]], &cur = entries[order[k]];
    if (cur.offset < prev.offset + prev.bytes)
      r.fail(cat("the data of tensors '", m.tensors[order[k - 1]].name, "' and '",
                 m.tensors[order[k]].name, "' overlap"));
  }
  return entries;
}

// Points each tensor at its bytes in the file, or at a copy when the file's
// memory cannot be used as float data in place.
void attach_data(const uint8_t* file, const std::vector<TableEntry>& entries,
                 std::shared_ptr<const void> owner, ModelRecord& m) {
  const bool in_place = owner && kLittleEndianHost &&
                        reinterpret_cast<uintptr_t>(file) % layout::kTensorAlign == 0;
  if (in_place) {
    for (size_t i = 0; i < entries.size(); ++i) {
      m.tensors[i].data = file + entries[i].offset;
      m.tensors[i].owner = owner;
    }
    return;
  }
  // One aligned buffer for all copies. Its size cannot overflow: the entries
  // are aligned and disjoint inside the file, so it is at most the data
  // section's size plus one alignment step.
  auto round_up = [](uint64_t v) { return (v + layout::kTensorAlign - 1) & ~(layout::kTensorAlign - 1); };
  uint64_t total = 0;
  for (const TableEntry& e : entries) total = round_up(total + e.bytes);
  const std::align_val_t align{layout::kTensorAlign};
  std::shared_ptr<uint8_t> buffer(static_cast<uint8_t*>(::operator new(total ? total : 1, align)),
                                  [align](uint8_t* q) { ::operator delete(q, align); });
  uint64_t at = 0;
  for (size_t i = 0; i < entries.size(); ++i) {
    uint8_t* dst = buffer.get() + at;
    load_elements(dst, file + entries[i].offset, entries[i].bytes, layout::dtype_size(m.tensors[i].dtype));
    m.tensors[i].data = dst;
    m.tensors[i].owner = buffer;
    at = round_up(at + entries[i].bytes);
  }
}

}  // namespace

ModelRecord decode(const void* data, size_t size, std::shared_ptr<const void> owner) {
  const auto* p = static_cast<const uint8_t*>(data);
  if (!p) size = 0;
  check_header(p, size);
  const Section sections[3] = {
      {"graph section", load_u64(p + layout::kGraphOffsetAt), load_u64(p + layout::kGraphSizeAt)},
      {"tensor table", load_u64(p + layout::kTableOffsetAt), load_u64(p + layout::kTableSizeAt)},
      {"tensor data", load_u64(p + layout::kDataOffsetAt), load_u64(p + layout::kDataSizeAt)}};
  check_sections(sections, size);

  ModelRecord m;
  ByteReader graph(p + sections[0].offset, sections[0].size, sections[0].name);
  read_graph_section(graph, m);
  ByteReader table(p + sections[1].offset, sections[1].size, sections[1].name);
  const std::vector<TableEntry> entries = read_table(table, sections[2], m);
  attach_data(p, entries, std::move(owner), m);

  if (std::string problem = record_problem(m); !problem.empty())
    throw FormatError(cat("model file is invalid: ", problem));
  return m;
}

}  // namespace pyconv::io

// encode/decode of .pcv bytes: the round trip, and every kind of corrupt
// file giving a FormatError that names the problem.
#include <dirent.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <limits>

#include "check.h"
#include "core/error.h"
#include "io/byte_io.h"
#include "io/crc32c.h"
#include "io/model_file.h"
#include "io/pcv_format.h"
#include "io/pcv_layout.h"
#include "io/pcv_testing.h"
#include "sample_model.h"

using namespace pyconv;
using namespace pyconv::io;
using pyconv::test::sample_model;
using Bytes = std::vector<uint8_t>;

namespace {

ModelRecord decode_copy(const Bytes& b) { return decode(b.data(), b.size(), nullptr); }

// After a deliberate edit: fixes the length field and the checksum, so the
// decoder gets past them to the problem under test.
Bytes reseal(Bytes b) {
  store_u64(b.data() + layout::kFileLengthAt, b.size());
  const size_t body = b.size() - layout::kChecksumSize;
  store_u32(b.data() + body, crc32c(b.data(), body));
  return b;
}

uint64_t header_u64(const Bytes& b, size_t at) { return load_u64(b.data() + at); }

// Position just after the first occurrence of `s` (a name or key) in the file.
size_t after(const Bytes& b, const std::string& s) {
  auto it = std::search(b.begin(), b.end(), s.begin(), s.end());
  CHECK(it != b.end());
  return static_cast<size_t>(it - b.begin()) + s.size();
}

// Table entry fields of tensor `name`: dtype, rank, dims, offset, length.
struct Entry {
  size_t dtype, rank, dims, offset, length;
};
Entry entry(const Bytes& b, const std::string& name) {
  Entry e;
  e.dtype = after(b, name);
  e.rank = e.dtype + 4;
  e.dims = e.rank + 4;
  e.offset = e.dims + 8 * load_u32(b.data() + e.rank);
  e.length = e.offset + 8;
  return e;
}

bool same_attrs(const Attrs& a, const Attrs& b) {
  if (a.values().size() != b.values().size()) return false;
  for (const auto& [key, value] : a.values()) {
    auto it = b.values().find(key);
    if (it == b.values().end() || it->second.index() != value.index()) return false;
    if (auto* d = std::get_if<double>(&value)) {  // bit-exact, so -0.0 counts
      double other = std::get<double>(it->second);
      if (std::memcmp(d, &other, sizeof other) != 0) return false;
    } else if (!(it->second == value)) {
      return false;
    }
  }
  return true;
}

void check_same(const ModelRecord& a, const ModelRecord& b) {
  CHECK(a.input_shapes == b.input_shapes);
  CHECK(a.outputs == b.outputs);
  CHECK(a.nodes.size() == b.nodes.size());
  for (size_t i = 0; i < a.nodes.size() && i < b.nodes.size(); ++i) {
    CHECK(same_attrs(a.nodes[i].attrs, b.nodes[i].attrs));
    CHECK(a.nodes[i].inputs == b.nodes[i].inputs);
  }
  CHECK(same_attrs(a.loss, b.loss));
  CHECK(same_attrs(a.optimizer, b.optimizer));
  CHECK(same_attrs(a.meta, b.meta));
  CHECK(a.tensors.size() == b.tensors.size());
  for (size_t i = 0; i < a.tensors.size() && i < b.tensors.size(); ++i) {
    const TensorRecord &x = a.tensors[i], &y = b.tensors[i];
    CHECK(x.name == y.name);
    CHECK(x.shape == y.shape);
    CHECK(x.dtype == y.dtype);
    const size_t n = static_cast<size_t>(shape_numel(x.shape) * io::layout::dtype_size(x.dtype));
    CHECK(n == 0 || std::memcmp(x.data, y.data, n) == 0);
  }
}

}  // namespace

TEST_CASE(crc32c_check_value) {
  const char* text = "123456789";
  CHECK(crc32c(reinterpret_cast<const uint8_t*>(text), 9) == 0xE3069283u);
  CHECK(crc32c(nullptr, 0) == 0);
}

TEST_CASE(round_trip_keeps_everything) {
  auto s = sample_model();
  const Bytes bytes = encode(s.record);
  check_same(s.record, decode_copy(bytes));
  CHECK(encode(decode_copy(bytes)) == bytes);  // deterministic
  check_same(sample_model(false).record, decode_copy(encode(sample_model(false).record)));
}

TEST_CASE(round_trip_of_an_empty_record) {
  ModelRecord empty;
  check_same(empty, decode_copy(encode(empty)));
}

TEST_CASE(tensors_are_aligned_and_zero_copy_when_possible) {
  auto s = sample_model();
  const Bytes bytes = encode(s.record);
  for (const TensorRecord& t : decode_copy(bytes).tensors) {
    CHECK(reinterpret_cast<uintptr_t>(t.data) % 64 == 0);
    CHECK(t.owner != nullptr);
  }
  // An aligned buffer with an owner is used in place.
  auto buffer = std::shared_ptr<uint8_t>(
      static_cast<uint8_t*>(::operator new(bytes.size(), std::align_val_t{64})),
      [](uint8_t* p) { ::operator delete(p, std::align_val_t{64}); });
  std::memcpy(buffer.get(), bytes.data(), bytes.size());
  ModelRecord m = decode(buffer.get(), bytes.size(), buffer);
  for (const TensorRecord& t : m.tensors) {
    const auto* p = reinterpret_cast<const uint8_t*>(t.data);
    CHECK(p >= buffer.get() && p <= buffer.get() + bytes.size());
    CHECK(t.owner == buffer);
  }
  // A misaligned buffer is copied, and the copies outlive it.
  Bytes shifted(bytes.size() + 1);
  std::memcpy(shifted.data() + 1, bytes.data(), bytes.size());
  ModelRecord c = decode(shifted.data() + 1, bytes.size(), std::make_shared<int>(0));
  shifted.assign(shifted.size(), 0xEE);
  check_same(s.record, c);
}

TEST_CASE(encode_refuses_invalid_records) {
  auto later = sample_model();
  later.record.nodes[1].inputs = {3};
  CHECK_THROWS(encode(later.record), ValueError, "node 1 takes node 3 as input");
  auto nan = sample_model();
  nan.storage[1][2] = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS(encode(nan.record), ValueError,
               "tensor 'param/conv1/bias' holds NaN at element 2 of 4");
  auto rank = sample_model();
  rank.record.tensors[4].shape = Shape(9, 1);
  CHECK_THROWS(encode(rank.record), ValueError, "rank 9");
  auto neg = sample_model();
  neg.record.input_shapes[0] = {8, -1, 1};
  CHECK_THROWS(encode(neg.record), ValueError, "model input 0 has shape (8, -1, 1)");
}

TEST_CASE(every_truncation_is_refused) {
  const Bytes bytes = encode(sample_model().record);
  for (size_t n = 0; n < bytes.size(); ++n) {
    const Bytes cut(bytes.begin(), bytes.begin() + n);
    if (n < 8)
      CHECK_THROWS(decode_copy(cut), FormatError, "not a .pcv model file");
    else if (n < layout::kMinFileSize)
      CHECK_THROWS(decode_copy(cut), FormatError, "truncated: expected at least 84 bytes");
    else
      CHECK_THROWS(decode_copy(cut), FormatError,
                   cat("model file is truncated: expected ", bytes.size(), " bytes, found ", n));
  }
  CHECK_THROWS(decode(nullptr, 0, nullptr), FormatError, "not a .pcv model file");
}

TEST_CASE(every_byte_flip_is_refused) {
  const Bytes bytes = encode(sample_model().record);
  for (size_t i = 0; i < bytes.size(); ++i) {
    for (uint8_t mask : {0x01, 0x80, 0xFF}) {
      if (i >= layout::kHeaderSize && mask != 0x01) continue;  // whole file: one flip per byte
      Bytes b = bytes;
      b[i] ^= mask;
      CHECK_THROWS(decode_copy(b), FormatError, "");
    }
  }
}

TEST_CASE(header_problems_are_named) {
  const Bytes good = encode(sample_model().record);
  Bytes b = good;
  b[1] = 'X';
  CHECK_THROWS(decode_copy(b), FormatError, "not a .pcv model file");
  b = good;
  store_u32(b.data() + layout::kVersionAt, 2);
  CHECK_THROWS(decode_copy(b), FormatError, "format version 2, newer than this pyconv reads");
  store_u32(b.data() + layout::kVersionAt, 0);
  CHECK_THROWS(decode_copy(b), FormatError, "unsupported format version 0");
  b = good;
  store_u32(b.data() + layout::kFlagsAt, 4);
  CHECK_THROWS(decode_copy(b), FormatError, "unknown header flags 0x4");
  b = good;
  b[layout::kReservedAt + 3] = 1;
  CHECK_THROWS(decode_copy(b), FormatError, "reserved field is not zero");
  b = good;
  b.push_back(0);
  CHECK_THROWS(decode_copy(b), FormatError, "length mismatch");
  b = good;
  b[b.size() - 10] ^= 0x40;  // tensor data
  CHECK_THROWS(decode_copy(b), FormatError, "checksum mismatch");
  b = good;
  store_u64(b.data() + layout::kFileLengthAt, 1ull << 62);
  CHECK_THROWS(decode_copy(b), FormatError, "truncated: expected 4611686018427387904 bytes");
}

TEST_CASE(section_problems_are_named) {
  const Bytes good = encode(sample_model().record);
  auto with = [&](size_t at, uint64_t v) {
    Bytes b = good;
    store_u64(b.data() + at, v);
    return reseal(b);
  };
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  CHECK_THROWS(decode_copy(with(layout::kGraphOffsetAt, good.size())), FormatError,
               "graph section [");
  CHECK_THROWS(decode_copy(with(layout::kGraphOffsetAt, 8)), FormatError, "is outside bytes");
  CHECK_THROWS(decode_copy(with(layout::kTableSizeAt, max)), FormatError, "tensor table [");
  CHECK_THROWS(decode_copy(with(layout::kDataSizeAt, max - 100)), FormatError, "tensor data [");
  CHECK_THROWS(decode_copy(with(layout::kDataOffsetAt, 0)), FormatError, "is outside bytes");
  // Graph overlapping the table.
  const uint64_t graph_size = header_u64(good, layout::kGraphSizeAt);
  CHECK_THROWS(decode_copy(with(layout::kGraphSizeAt, graph_size + 4)), FormatError,
               "tensor table [");
  // Data section moved off its 64-byte boundary.
  Bytes b = with(layout::kDataOffsetAt, header_u64(good, layout::kDataOffsetAt) + 4);
  store_u64(b.data() + layout::kDataSizeAt, header_u64(good, layout::kDataSizeAt) - 4);
  CHECK_THROWS(decode_copy(reseal(b)), FormatError, "not a multiple of 64");
  // The graph section claims the table's first 4 bytes: they are left over.
  b = with(layout::kGraphSizeAt, graph_size + 4);
  store_u64(b.data() + layout::kTableOffsetAt, header_u64(good, layout::kTableOffsetAt) + 4);
  store_u64(b.data() + layout::kTableSizeAt, header_u64(good, layout::kTableSizeAt) - 4);
  CHECK_THROWS(decode_copy(reseal(b)), FormatError, "graph section: 4 unused bytes");
  // Graph section too short: parsing runs off its end.
  b = with(layout::kGraphSizeAt, graph_size - 4);
  CHECK_THROWS(decode_copy(b), FormatError, "graph section: meta");
}

TEST_CASE(tensor_table_problems_are_named) {
  const Bytes good = encode(sample_model().record);
  auto edit32 = [&](size_t at, uint32_t v) {
    Bytes b = good;
    store_u32(b.data() + at, v);
    return reseal(b);
  };
  auto edit64 = [&](size_t at, uint64_t v) {
    Bytes b = good;
    store_u64(b.data() + at, v);
    return reseal(b);
  };
  const Entry k1 = entry(good, "param/conv1/kernel"), b1 = entry(good, "param/conv1/bias");
  const Entry k2 = entry(good, "param/conv2/kernel");
  // As int8 (1 byte each) or int32 the same length no longer fits the shape.
  CHECK_THROWS(decode_copy(edit32(k1.dtype, 1)), FormatError,
               "tensor 'param/conv1/kernel' has byte length 144 but its shape needs 36");
  CHECK_THROWS(decode_copy(edit32(k1.dtype, 3)), FormatError, "unknown dtype 3");
  CHECK_THROWS(decode_copy(edit32(k1.dtype, 7)), FormatError, "unknown dtype 7");
  CHECK_THROWS(decode_copy(edit32(k1.rank, 9)), FormatError, "shape has rank 9 (at most 8)");
  CHECK_THROWS(decode_copy(edit32(k1.rank, 0xFFFFFFFF)), FormatError, "rank 4294967295");
  CHECK_THROWS(decode_copy(edit64(k1.dims, uint64_t(-3))), FormatError, "negative dimension");
  {
    Bytes b = good;  // 2^40 * 2^40 * 1 * 4 overflows
    store_u64(b.data() + k1.dims, 1ull << 40);
    store_u64(b.data() + k1.dims + 8, 1ull << 40);
    CHECK_THROWS(decode_copy(reseal(b)), FormatError, "overflows 64 bits");
  }
  CHECK_THROWS(decode_copy(edit64(k1.dims, 4)), FormatError,
               "has byte length 144 but its shape needs 192");
  CHECK_THROWS(decode_copy(edit64(k1.length, 148)), FormatError, "byte length 148");
  const uint64_t k1_offset = load_u64(good.data() + k1.offset);
  CHECK_THROWS(decode_copy(edit64(k1.offset, k1_offset + 4)), FormatError,
               "data starts at offset");
  CHECK_THROWS(decode_copy(edit64(k1.offset, uint64_t(-8))), FormatError,
               "is outside the tensor data");
  CHECK_THROWS(decode_copy(edit64(k1.offset, 0)), FormatError, "is outside the tensor data");
  CHECK_THROWS(decode_copy(edit64(b1.offset, k1_offset)), FormatError,
               "the data of tensors 'param/conv1/bias' and 'param/conv1/kernel' overlap");
  {
    Bytes b = good;  // rename conv2's kernel to conv1's
    const size_t at = after(b, "param/conv2/kernel") - 8;
    b[at] = '1';
    CHECK_THROWS(decode_copy(reseal(b)), FormatError,
                 "two tensors are named 'param/conv1/kernel'");
  }
  const size_t name_length = after(good, "param/conv1/kernel") - 18 - 4;
  CHECK_THROWS(decode_copy(edit32(name_length, 0xFFFFFFFF)), FormatError,
               "tensor 0 name has length 4294967295 (allowed: 1 to 4096)");
  CHECK_THROWS(decode_copy(edit32(name_length, 0)), FormatError, "has length 0");
  CHECK_THROWS(decode_copy(edit32(name_length, 4000)), FormatError,
               "tensor 0 name needs 4000 bytes but only");
  const size_t count_at = header_u64(good, layout::kTableOffsetAt);
  CHECK_THROWS(decode_copy(edit32(count_at, 1000000)), FormatError,
               "tensor count is 1000000, more than the");
  CHECK_THROWS(decode_copy(edit32(count_at, 8)), FormatError,  // one entry fewer than there are
               "tensor table: 48 unused bytes at its end");
  {
    Bytes b = good;
    const size_t data = load_u64(good.data() + k2.offset);
    store_u32(b.data() + data + 4 * 5, 0x7FC00000);  // NaN
    CHECK_THROWS(decode_copy(reseal(b)), FormatError,
                 "tensor 'param/conv2/kernel' holds NaN at element 5 of 144");
    store_u32(b.data() + data + 4 * 5, 0xFF800000);  // -inf
    CHECK_THROWS(decode_copy(reseal(b)), FormatError, "holds infinity at element 5");
  }
}

TEST_CASE(graph_problems_are_named) {
  const Bytes good = encode(sample_model().record);
  auto edit = [&](size_t at, uint32_t v, int bytes = 4) {
    Bytes b = good;
    if (bytes == 1) b[at] = static_cast<uint8_t>(v);
    else store_u32(b.data() + at, v);
    return reseal(b);
  };
  // Inputs: count at 80, shape (8, 8, 1) at 84, shape (10,) at 112; nodes at 124.
  CHECK_THROWS(decode_copy(edit(84, 9)), FormatError, "input 0 shape has rank 9");
  CHECK_THROWS(decode_copy(edit(80, 0xFFFFFFFF)), FormatError, "input count is 4294967295");
  CHECK_THROWS(decode_copy(edit(124, 0x10000000)), FormatError, "node count is 268435456");
  CHECK_THROWS(decode_copy(edit(88, 0)), FormatError,
               "model input 0 has shape (0, 8, 1) (want rank <= 8 and every dimension >= 1)");
  const size_t use_bias = after(good, "use_bias");
  CHECK_THROWS(decode_copy(edit(use_bias, 9, 1)), FormatError,
               "node 0 attribute 'use_bias' has unknown type tag 9");
  CHECK_THROWS(decode_copy(edit(use_bias + 1, 2, 1)), FormatError,
               "'use_bias' is a bool stored as 2 (want 0 or 1)");
  const size_t padding = after(good, "padding") + 1;  // past the tag: the string's length
  CHECK_THROWS(decode_copy(edit(padding, 0xFFFFFFFF)), FormatError,
               "attribute 'padding' has length 4294967295 (allowed: 0 to 1048576)");
  CHECK_THROWS(decode_copy(edit(padding, 100000)), FormatError,
               "attribute 'padding' needs 100000 bytes but only");
  const size_t list = after(good, "rng_state") + 1;
  CHECK_THROWS(decode_copy(edit(list, 0x7FFFFFFF)), FormatError,
               "meta attribute 'rng_state' item count is 2147483647, more than the");
  {
    Bytes b = good;  // meta key "ab" becomes a second "aa"
    b[after(b, "ab") - 1] = 'a';
    CHECK_THROWS(decode_copy(reseal(b)), FormatError, "meta has attribute 'aa' twice");
  }
}

TEST_CASE(invalid_graphs_are_refused) {
  auto refused = [](void (*edit)(ModelRecord&), const char* fragment) {
    auto s = sample_model();
    edit(s.record);
    CHECK_THROWS(decode_copy(testing::encode_unchecked(s.record)), FormatError, fragment);
  };
  refused([](ModelRecord& m) { m.nodes[2].inputs = {0, 2}; },
          "model file is invalid: node 2 takes node 2 as input, which is not an earlier node");
  refused([](ModelRecord& m) { m.nodes[1].inputs = {5}; }, "node 1 takes node 5 as input");
  refused([](ModelRecord& m) { m.nodes[5].inputs = {-3}; },
          "node 5 takes model input 2 (written -3) but the model has 2 input(s)");
  refused([](ModelRecord& m) { m.nodes[0].inputs = {std::numeric_limits<int32_t>::min()}; },
          "takes model input 2147483647");
  refused([](ModelRecord& m) { m.outputs = {4, 6}; },
          "output 1 is node 6 but the model has 6 node(s)");
  refused([](ModelRecord& m) { m.outputs = {-1}; }, "output 0 is node -1");
  refused([](ModelRecord& m) { m.nodes[3].attrs = Attrs(); },
          "node 3 has no string attribute 'type'");
  refused([](ModelRecord& m) { m.nodes[3].attrs.set("type", int64_t{3}); },
          "node 3 has no string attribute 'type'");
  refused([](ModelRecord& m) { m.tensors[2].name = m.tensors[0].name; },
          "two tensors are named 'param/conv1/kernel'");
}

// Inputs the fuzzer once found (tests/fuzz/regressions): each must decode and
// load as a model, or give a FormatError, never anything worse.
TEST_CASE(regression_inputs_are_refused_cleanly) {
  DIR* dir = ::opendir(PYCONV_FUZZ_REGRESSIONS);
  CHECK(dir != nullptr);
  if (!dir) return;
  while (dirent* e = ::readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(std::string(PYCONV_FUZZ_REGRESSIONS) + "/" + e->d_name, std::ios::binary);
    const Bytes b{std::istreambuf_iterator<char>(in), {}};
    try {
      decode_copy(b);
      load_any_model_memory(b.data(), b.size());
    } catch (const FormatError&) {
    }
  }
  ::closedir(dir);
}

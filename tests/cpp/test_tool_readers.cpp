// pyconv-run's file readers and writers: round trips, and every kind of bad
// input (truncated at every length, corrupt headers) gives an InputError,
// never a crash or a huge allocation.
#include <cstdio>
#include <cstring>
#include <string>

#ifdef PCVRUN_HAVE_ZLIB
#include <zlib.h>
#endif

#include "file.h"
#include "idx.h"
#include "input.h"
#include "check.h"
#include "npy.h"
#include "pgm.h"

using namespace pcvrun;

namespace {

Bytes bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

template <class F>
bool throws_input_error(F&& f) {
  try {
    f();
  } catch (const InputError&) {
    return true;
  }
  return false;
}

// Every proper prefix of a valid file must be rejected cleanly.
template <class Parse>
void check_every_truncation(const Bytes& good, Parse parse) {
  int bad = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    const Bytes cut(good.begin(), good.begin() + n);
    if (!throws_input_error([&] { parse(cut, "cut"); })) ++bad;
  }
  CHECK(bad == 0);
}

// Flipping any header byte either still parses or throws InputError.
template <class Parse>
void check_header_corruption(const Bytes& good, size_t header_bytes, Parse parse) {
  for (size_t i = 0; i < header_bytes && i < good.size(); ++i)
    for (int v : {0x00, 0xff, 0x7f, int{'9'}, int{')'}}) {
      Bytes b = good;
      b[i] = static_cast<unsigned char>(v);
      try {
        parse(b, "corrupt");
      } catch (const InputError&) {
      }
    }
  CHECK(true);  // reaching here without a crash is the test
}

Bytes npy_u8(const std::string& shape, const Bytes& data, const std::string& descr = "|u1") {
  std::string header = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }\n";
  Bytes b = bytes(std::string("\x93NUMPY\x01\x00", 8));
  b.push_back(static_cast<unsigned char>(header.size()));
  b.push_back(0);
  b.insert(b.end(), header.begin(), header.end());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

TEST_CASE(test_npy) {
  const float v[6] = {1.5f, -2, 0, 3e8f, -0.0f, 7};
  const Bytes f = format_npy(v, {2, 3});
  CHECK(f.size() == 128 + 24);  // the data starts 64-byte aligned
  Array a = parse_npy(f, "f");
  CHECK((a.shape == std::vector<int64_t>{2, 3}));
  CHECK(std::memcmp(a.data.data(), v, sizeof v) == 0);
  CHECK(a.max_value == 0);
  CHECK(parse_npy(format_npy(v, {}), "scalar").data.size() == 1);
  CHECK(parse_npy(format_npy(v, {0, 3}), "empty").data.empty());

  a = parse_npy(npy_u8("(2,)", {0, 255}), "u8");
  CHECK(a.data.size() == 2 && a.data[1] == 255.0f && a.max_value == 255);
  // Signed integers (labels as np.save writes them), little-endian, sign extended.
  a = parse_npy(npy_u8("(2,)", {7, 0xFF}, "|i1"), "i1");
  CHECK(a.data.size() == 2 && a.data[0] == 7.0f && a.data[1] == -1.0f && a.max_value == 0);
  a = parse_npy(npy_u8("(2,)", {0x34, 0x12, 0xFE, 0xFF}, "<i2"), "i2");
  CHECK(a.data.size() == 2 && a.data[0] == 0x1234 && a.data[1] == -2.0f);
  a = parse_npy(npy_u8("(1,)", {9, 0, 0, 0}, "<i4"), "i4");
  CHECK(a.data.size() == 1 && a.data[0] == 9.0f);
  a = parse_npy(npy_u8("(2,)", {3, 0, 0, 0, 0, 0, 0, 0, 0xFD, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, "<i8"),
                "i8");
  CHECK(a.data.size() == 2 && a.data[0] == 3.0f && a.data[1] == -3.0f);
  CHECK(throws_input_error([&] { parse_npy(npy_u8("(1,)", {1, 0, 0}, "<i4"), "short i4"); }));
  CHECK(throws_input_error([&] { parse_npy(npy_u8("(1,)", {1, 0, 0, 0}, ">i4"), "big-endian"); }));

  CHECK(throws_input_error([&] { parse_npy(bytes("not numpy at all"), "x"); }));
  CHECK(throws_input_error([&] { parse_npy(npy_u8("(3,)", {1, 2}), "short"); }));
  CHECK(throws_input_error([&] { parse_npy(npy_u8("(1,)", {1, 2}), "long"); }));
  CHECK(throws_input_error([&] { parse_npy(npy_u8("(99999999999, 99999999999)", {}), "huge"); }));
  CHECK(throws_input_error([&] { parse_npy(npy_u8("(2, x)", {}), "garbage shape"); }));
  Bytes fortran = f;
  std::string h(fortran.begin(), fortran.end());
  h.replace(h.find("False"), 5, "True ");
  CHECK(throws_input_error([&] { parse_npy(bytes(h), "fortran"); }));
  std::string f8(f.begin(), f.end());
  f8.replace(f8.find("<f4"), 3, "<f8");
  CHECK(throws_input_error([&] { parse_npy(bytes(f8), "f8"); }));
  check_every_truncation(f, parse_npy);
  check_header_corruption(f, 128, parse_npy);
}

Bytes idx_header(int type, std::initializer_list<uint32_t> dims) {
  Bytes b{0, 0, static_cast<unsigned char>(type), static_cast<unsigned char>(dims.size())};
  for (uint32_t d : dims)
    for (int k = 3; k >= 0; --k) b.push_back(static_cast<unsigned char>(d >> (8 * k)));
  return b;
}

TEST_CASE(test_idx) {
  Bytes b = idx_header(0x08, {2, 2, 2});
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<unsigned char>(i * 30));
  Array a = parse_idx(b, "u8");
  CHECK((a.shape == std::vector<int64_t>{2, 2, 2}));
  CHECK(a.data[7] == 210.0f && a.max_value == 255);
  CHECK(looks_like_idx(b));

  Bytes f = idx_header(0x0D, {1});
  for (unsigned char c : {0x3f, 0xc0, 0x00, 0x00}) f.push_back(c);  // 1.5f big-endian
  a = parse_idx(f, "f32");
  CHECK(a.data.size() == 1 && a.data[0] == 1.5f && a.max_value == 0);

  Bytes i16 = idx_header(0x0B, {1});
  i16.push_back(0xff);
  i16.push_back(0xfe);  // -2
  CHECK(parse_idx(i16, "i16").data[0] == -2.0f);

  CHECK(throws_input_error([&] { parse_idx(idx_header(0x07, {1}), "type"); }));
  CHECK(throws_input_error([&] { parse_idx(idx_header(0x08, {0xffffffff, 0xffffffff, 0xffffffff}), "huge"); }));
  Bytes extra = b;
  extra.push_back(0);
  CHECK(throws_input_error([&] { parse_idx(extra, "extra"); }));
  check_every_truncation(b, parse_idx);
  check_header_corruption(b, 16, parse_idx);
}

TEST_CASE(test_pgm) {
  Bytes b = bytes("P5\n# a comment\n3 2\n255\n");
  for (int i = 0; i < 6; ++i) b.push_back(static_cast<unsigned char>(i * 50));
  Array a = parse_pgm(b, "pgm");
  CHECK((a.shape == std::vector<int64_t>{2, 3}));
  CHECK(a.data[5] == 250.0f && a.max_value == 255);

  Bytes wide = bytes("P5 1 1 1000\n");
  wide.push_back(0x03);
  wide.push_back(0xe8);  // 1000, big-endian
  a = parse_pgm(wide, "16-bit");
  CHECK(a.data[0] == 1000.0f && a.max_value == 1000);

  CHECK(throws_input_error([&] { parse_pgm(bytes("P5 1 1 0\n\x00"), "maxval 0"); }));
  CHECK(throws_input_error([&] { parse_pgm(bytes("P5 1 1 10\n\x20"), "above maxval"); }));
  CHECK(throws_input_error([&] { parse_pgm(bytes("P5 0 1 255\n"), "empty"); }));
  CHECK(throws_input_error([&] { parse_pgm(bytes("P5 99999999 99999999 255\n"), "huge"); }));
  CHECK(throws_input_error([&] { parse_pgm(bytes("P2 1 1 255\n1"), "ascii"); }));
  check_every_truncation(b, parse_pgm);
  check_header_corruption(b, 20, parse_pgm);
}

std::string temp_path(const std::string& name) {
  return std::string(PCVRUN_TEST_TMP) + "/" + name;
}

TEST_CASE(test_files_and_input) {
  const std::string p = temp_path("pcvrun_test.npy");
  const float v[4] = {1, 2, 3, 4};
  write_file_atomic(p, format_npy(v, {2, 2}));
  Array a = read_input({p});
  CHECK(a.data.size() == 4 && a.data[3] == 4.0f);
  CHECK(count_samples(a, {2}) == 2);
  CHECK(count_samples(a, {2, 2}) == 1);
  CHECK(count_samples(a, {4}) == 1);
  CHECK(throws_input_error([&] { count_samples(a, {3}); }));
  CHECK(throws_input_error([&] { read_file(p, 10); }));  // over the size limit
  CHECK(throws_input_error([&] { read_input({temp_path("does-not-exist")}); }));
  CHECK(throws_input_error([&] { write_file_atomic(temp_path("no-such-dir/x.npy"), {}); }));

  // Two PGMs stack into (2, 1, 2); a third of another size is refused.
  const std::string g1 = temp_path("a.pgm"), g2 = temp_path("b.pgm"), g3 = temp_path("c.pgm");
  write_file_atomic(g1, bytes(std::string("P5 2 1 255\n\x01\x02", 13)));
  write_file_atomic(g2, bytes(std::string("P5 2 1 255\n\x03\x04", 13)));
  write_file_atomic(g3, bytes(std::string("P5 1 2 255\n\x03\x04", 13)));
  a = read_input({g1, g2});
  CHECK((a.shape == std::vector<int64_t>{2, 1, 2}));
  CHECK(a.data[3] == 4.0f);
  CHECK(count_samples(a, {1, 2, 1}) == 2);
  CHECK(throws_input_error([&] { read_input({g1, g3}); }));
  CHECK(throws_input_error([&] { read_input({g1, p}); }));  // a .npy among images
  for (const std::string& f : {p, g1, g2, g3}) std::remove(f.c_str());
}

#ifdef PCVRUN_HAVE_ZLIB
Bytes gzip(const Bytes& in) {
  z_stream z{};
  deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  Bytes out(deflateBound(&z, static_cast<uLong>(in.size())) + 32);
  z.next_in = const_cast<unsigned char*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = out.data();
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

TEST_CASE(test_gzip) {
  Bytes idx = idx_header(0x08, {1000});
  idx.resize(idx.size() + 1000, 7);
  const Bytes gz = gzip(idx);
  const std::string p = temp_path("pcvrun_test.idx.gz");
  write_file_atomic(p, gz);
  Array a = read_input({p});
  CHECK(a.data.size() == 1000 && a.data[999] == 7.0f);
  CHECK(throws_input_error([&] { read_file(p, 500); }));  // decompressed size over the limit
  write_file_atomic(p, Bytes(gz.begin(), gz.begin() + gz.size() / 2));
  CHECK(throws_input_error([&] { read_file(p, 1 << 20); }));  // truncated stream
  Bytes flipped = gz;
  flipped[gz.size() / 2] ^= 0xff;
  write_file_atomic(p, flipped);
  CHECK(throws_input_error([&] { read_input({p}); }));
  std::remove(p.c_str());
}
#endif

}  // namespace


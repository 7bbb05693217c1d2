#include "file.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#ifdef PCVRUN_HAVE_ZLIB
#include <zlib.h>
#endif

#ifdef _WIN32
#include <process.h>
#define getpid _getpid
#else
#include <unistd.h>
#endif

namespace pcvrun {
namespace {

std::string errno_text() { return std::strerror(errno); }

bool is_gzip(const Bytes& b) { return b.size() >= 2 && b[0] == 0x1f && b[1] == 0x8b; }

#ifdef PCVRUN_HAVE_ZLIB
// Inflates every gzip member of `in`; InputError if the result exceeds
// `limit` (a small file must not expand into all of memory) or is corrupt.
Bytes gunzip(const Bytes& in, size_t limit, const std::string& path) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw InputError(path + ": cannot start gzip decoding");
  Bytes out;
  unsigned char chunk[1 << 16];
  z.next_in = const_cast<unsigned char*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());  // read_file's limit keeps this in range
  int rc = Z_OK;
  while (true) {
    z.next_out = chunk;
    z.avail_out = sizeof chunk;
    rc = inflate(&z, Z_NO_FLUSH);
    const size_t got = sizeof chunk - z.avail_out;
    if (rc != Z_OK && rc != Z_STREAM_END && !(rc == Z_BUF_ERROR && got > 0)) break;
    if (out.size() + got > limit) {
      inflateEnd(&z);
      throw InputError(path + ": decompressed data is larger than " + std::to_string(limit) +
                       " bytes");
    }
    out.insert(out.end(), chunk, chunk + got);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      inflateReset(&z);  // another gzip member follows
    } else if (got == 0 && z.avail_in == 0) {
      rc = Z_DATA_ERROR;  // the input ended inside the stream
      break;
    }
  }
  inflateEnd(&z);
  if (rc != Z_STREAM_END) throw InputError(path + ": truncated or corrupt gzip data");
  return out;
}
#endif

}  // namespace

bool have_gzip() {
#ifdef PCVRUN_HAVE_ZLIB
  return true;
#else
  return false;
#endif
}

Bytes read_file(const std::string& path, size_t limit) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw InputError(path + ": cannot open: " + errno_text());
  Bytes b;
  unsigned char chunk[1 << 16];
  size_t got;
  while ((got = std::fread(chunk, 1, sizeof chunk, f)) > 0) {
    if (b.size() + got > limit) {
      std::fclose(f);
      throw InputError(path + ": file is larger than " + std::to_string(limit) + " bytes");
    }
    b.insert(b.end(), chunk, chunk + got);
  }
  const bool failed = std::ferror(f);
  std::fclose(f);
  if (failed) throw InputError(path + ": read error");
  if (!is_gzip(b)) return b;
#ifdef PCVRUN_HAVE_ZLIB
  return gunzip(b, limit, path);
#else
  throw InputError(path + ": gzip files need a pyconv-run built with zlib; gunzip it first");
#endif
}

void write_file_atomic(const std::string& path, const Bytes& bytes) {
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  std::FILE* f = std::fopen(tmp.c_str(), "wb");
  if (!f) throw InputError(path + ": cannot create " + tmp + ": " + errno_text());
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size();
  ok = (std::fflush(f) == 0) && ok;
  ok = (std::fclose(f) == 0) && ok;
  if (!ok || std::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string why = errno_text();
    std::remove(tmp.c_str());
    throw InputError(path + ": cannot write: " + why);
  }
}

}  // namespace pcvrun

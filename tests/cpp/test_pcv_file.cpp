// write_file / read_file: atomic saves that never leave a temporary file or
// a damaged old file behind, and loads that map the file.
#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <set>

#include "check.h"
#include "core/error.h"
#include "io/pcv_format.h"
#include "sample_model.h"

using namespace pyconv;
using namespace pyconv::io;
using pyconv::test::sample_model;
using Bytes = std::vector<uint8_t>;

namespace {

// A fresh folder under /tmp, removed (with its files) at the end of a test.
struct TempDir {
  std::string path;
  TempDir() {
    char name[] = "/tmp/pcv_test_XXXXXX";
    path = ::mkdtemp(name) ? name : "";
    CHECK(!path.empty());
  }
  ~TempDir() {
    ::chmod(path.c_str(), 0700);
    for (const std::string& f : files()) {
      const std::string p = path + "/" + f;
      if (::unlink(p.c_str()) != 0) ::rmdir(p.c_str());
    }
    ::rmdir(path.c_str());
  }
  std::set<std::string> files() const {
    std::set<std::string> out;
    if (DIR* d = ::opendir(path.c_str())) {
      while (dirent* e = ::readdir(d))
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          out.insert(e->d_name);
      ::closedir(d);
    }
    return out;
  }
  std::string operator/(const std::string& f) const { return path + "/" + f; }
};

Bytes read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

void write_raw(const std::string& path, const Bytes& b) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

}  // namespace

TEST_CASE(save_and_load_through_a_mapping) {
  TempDir dir;
  auto s = sample_model();
  const Bytes bytes = encode(s.record);
  write_file(dir / "m.pcv", bytes);
  CHECK(dir.files() == std::set<std::string>{"m.pcv"});
  CHECK(read_bytes(dir / "m.pcv") == bytes);
  ModelRecord m = read_file(dir / "m.pcv");
  // The tensors stay readable after the file is gone: the mapping lives on.
  ::unlink((dir / "m.pcv").c_str());
  CHECK(encode(m) == bytes);
  for (const TensorRecord& t : m.tensors) CHECK(reinterpret_cast<uintptr_t>(t.data) % 64 == 0);
  // Overwriting an existing file replaces it whole.
  write_file(dir / "m.pcv", bytes);
  const Bytes small = encode(sample_model(false).record);
  write_file(dir / "m.pcv", small);
  CHECK(read_bytes(dir / "m.pcv") == small);
  CHECK(dir.files() == std::set<std::string>{"m.pcv"});
}

TEST_CASE(saving_into_a_missing_folder_fails_cleanly) {
  TempDir dir;
  CHECK_THROWS(write_file(dir / "missing/m.pcv", {1, 2, 3}), IOError, "No such file or directory");
  CHECK_THROWS(write_file(dir / "missing/m.pcv", {1, 2, 3}), IOError, dir / "missing");
  CHECK_THROWS(write_file("", {1}), IOError, "path is empty");
  CHECK(dir.files().empty());
}

TEST_CASE(saving_into_a_read_only_folder_fails_cleanly) {
  if (::geteuid() == 0) {
    // Root ignores folder permissions; /proc refuses new files even to root.
    CHECK_THROWS(write_file("/proc/pyconv_test.pcv", {1, 2, 3}), IOError,
                 "cannot create a temporary file in '/proc'");
    return;
  }
  TempDir dir;
  write_file(dir / "m.pcv", {1, 2, 3});
  ::chmod(dir.path.c_str(), 0500);
  CHECK_THROWS(write_file(dir / "m.pcv", {4, 5}), IOError, "Permission denied");
  ::chmod(dir.path.c_str(), 0700);
  CHECK(dir.files() == std::set<std::string>{"m.pcv"});
  CHECK(read_bytes(dir / "m.pcv") == Bytes({1, 2, 3}));
}

TEST_CASE(a_failed_write_keeps_the_old_file) {
  TempDir dir;
  const Bytes old_bytes = encode(sample_model(false).record);
  write_file(dir / "m.pcv", old_bytes);
  // A file size limit makes the write itself fail part-way (EFBIG), even for root.
  struct rlimit saved;
  ::getrlimit(RLIMIT_FSIZE, &saved);
  struct rlimit small = saved;
  small.rlim_cur = 4096;
  auto old_handler = ::signal(SIGXFSZ, SIG_IGN);
  ::setrlimit(RLIMIT_FSIZE, &small);
  const Bytes big(100000, 7);
  CHECK_THROWS(write_file(dir / "m.pcv", big), IOError, "File too large");
  ::setrlimit(RLIMIT_FSIZE, &saved);
  ::signal(SIGXFSZ, old_handler);
  CHECK(dir.files() == std::set<std::string>{"m.pcv"});
  CHECK(read_bytes(dir / "m.pcv") == old_bytes);
}

TEST_CASE(a_failed_rename_leaves_no_temporary_file) {
  TempDir dir;
  ::mkdir((dir / "taken").c_str(), 0700);
  write_raw(dir / "taken/x", {1});
  CHECK_THROWS(write_file(dir / "taken", {1, 2, 3}), IOError, "cannot save model to '");
  CHECK(dir.files() == std::set<std::string>{"taken"});
  ::unlink((dir / "taken/x").c_str());
}

TEST_CASE(loading_bad_files_names_the_path) {
  TempDir dir;
  CHECK_THROWS(read_file(dir / "none.pcv"), IOError, "No such file or directory");
  CHECK_THROWS(read_file(dir.path), IOError, "not a regular file");
  ::mkfifo((dir / "fifo").c_str(), 0600);  // must not hang waiting for a writer
  CHECK_THROWS(read_file(dir / "fifo"), IOError, "not a regular file");
  write_raw(dir / "empty.pcv", {});
  CHECK_THROWS(read_file(dir / "empty.pcv"), FormatError, "empty.pcv': not a .pcv model file");
  Bytes bytes = encode(sample_model().record);
  bytes.resize(bytes.size() / 2);
  write_raw(dir / "half.pcv", bytes);
  CHECK_THROWS(read_file(dir / "half.pcv"), FormatError, "half.pcv': model file is truncated");
}

// write_file / read_file: the model file on disk (POSIX). Saving never leaves
// a half-written file: the bytes go to a temporary file in the same folder,
// which is synced and then renamed over the target in one step.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <new>

#include "core/error.h"
#include "io/pcv_format.h"
#include "io/pcv_layout.h"

namespace pyconv::io {

namespace {

[[noreturn]] void io_fail(const std::string& action, const std::string& path, int err) {
  throw IOError(cat("cannot ", action, " '", path, "': ", std::strerror(err)));
}

// Closes a descriptor on every path out of a scope.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

bool write_all(int fd, const uint8_t* p, size_t n) {
  while (n > 0) {
    const ssize_t done = ::write(fd, p, n);
    if (done < 0 && errno == EINTR) continue;
    if (done <= 0) {
      if (done == 0) errno = EIO;
      return false;
    }
    p += done;
    n -= static_cast<size_t>(done);
  }
  return true;
}

std::string folder_of(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Creates a new temporary file next to `path` (O_EXCL, so never someone
// else's), returning its descriptor and name.
int create_temp(const std::string& path, std::string* temp) {
  static std::atomic<unsigned> counter{0};
  for (int attempt = 0;; ++attempt) {
    *temp = cat(path, ".tmp-", ::getpid(), "-", counter++);
    const int fd = ::open(temp->c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd >= 0 || errno != EEXIST || attempt == 100) return fd;
  }
}

// Reads the whole file into a 64-byte aligned buffer (when mmap is refused).
std::shared_ptr<const void> read_all(int fd, const std::string& path, size_t size) {
  const std::align_val_t align{layout::kTensorAlign};
  std::shared_ptr<uint8_t> buffer(static_cast<uint8_t*>(::operator new(size, align)),
                                  [align](uint8_t* q) { ::operator delete(q, align); });
  for (size_t got = 0; got < size;) {
    const ssize_t n = ::pread(fd, buffer.get() + got, size - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_fail("read model file", path, errno);
    if (n == 0) throw IOError(cat("cannot read model file '", path, "': it shrank while being read"));
    got += static_cast<size_t>(n);
  }
  return buffer;
}

}  // namespace

void write_file(const std::string& path, const std::vector<uint8_t>& bytes) {
  if (path.empty()) throw IOError("cannot save model: the path is empty");
  std::string temp;
  Fd file;
  file.fd = create_temp(path, &temp);
  if (file.fd < 0) io_fail("create a temporary file in", folder_of(path), errno);
  bool ok = write_all(file.fd, bytes.data(), bytes.size()) && ::fsync(file.fd) == 0;
  if (ok) {
    ok = ::close(file.fd) == 0;  // close can report a deferred write error
    file.fd = -1;
  }
  ok = ok && ::rename(temp.c_str(), path.c_str()) == 0;
  if (!ok) {
    const int err = errno;
    ::unlink(temp.c_str());
    io_fail("save model to", path, err);
  }
  // Make the rename itself durable. The new file is already in place, so a
  // failure here is not reported as a failed save.
  Fd folder;
  folder.fd = ::open(folder_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (folder.fd >= 0) ::fsync(folder.fd);
}

ModelRecord read_file(const std::string& path) {
  Fd file;
  // O_NONBLOCK: opening a FIFO by mistake must not hang; it is refused below.
  file.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (file.fd < 0) io_fail("open model file", path, errno);
  struct stat st;
  if (::fstat(file.fd, &st) != 0) io_fail("read model file", path, errno);
  if (!S_ISREG(st.st_mode))
    throw IOError(cat("cannot read model file '", path, "': not a regular file"));
  if (static_cast<uint64_t>(st.st_size) > SIZE_MAX)
    throw IOError(cat("cannot read model file '", path, "': too large for this machine"));
  const size_t size = static_cast<size_t>(st.st_size);

  std::shared_ptr<const void> bytes;
  if (size > 0) {
    void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, file.fd, 0);
    if (map != MAP_FAILED)
      bytes = std::shared_ptr<const void>(map, [size](const void* q) {
        ::munmap(const_cast<void*>(q), size);
      });
    else
      bytes = read_all(file.fd, path, size);
  }
  try {
    return decode(bytes.get(), size, bytes);
  } catch (const FormatError& e) {
    throw FormatError(cat("'", path, "': ", e.what()));
  }
}

}  // namespace pyconv::io

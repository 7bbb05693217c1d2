#pragma once  // once per file: a file is compiled for one ISA

// A growable, 64-byte aligned buffer of T; declared thread_local, repeated
// calls allocate nothing. For the files compiled for one ISA, which include
// it inside their own namespace: in an anonymous namespace its code is the
// file's own. (A std::vector member template instantiated there is a weak
// symbol built with that ISA's instructions, which the linker may pick for
// code that runs on any CPU.) The including file provides <cstdlib> and <new>.

namespace {

template <class T>
struct Scratch {
  T* data = nullptr;
  size_t size = 0;
  ~Scratch() { std::free(data); }
  T* get(size_t n) {
    if (n > size) {
      std::free(data);
      data = static_cast<T*>(std::aligned_alloc(64, ((n * sizeof(T) + 63) / 64) * 64));
      if (!data) {
        size = 0;
        throw std::bad_alloc();
      }
      size = n;
    }
    return data;
  }
};

}  // namespace

// ARM semihosting: the two calls the firmware needs, made with `bkpt 0xAB`
// (Thumb). QEMU's -semihosting-config enable=on carries them out.
#pragma once
#include <stdint.h>

namespace semihosting {

inline int32_t call(int32_t op, const void* arg) {
  register int32_t r0 asm("r0") = op;
  register const void* r1 asm("r1") = arg;
  asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

// SYS_WRITE0: a NUL-terminated string to the host's console.
inline void write(const char* text) { call(0x04, text); }

// SYS_EXIT_EXTENDED: ends the run with this exit status.
inline void exit(int status) {
  const int32_t block[2] = {0x20026 /* ADP_Stopped_ApplicationExit */, status};
  call(0x20, block);
}

}  // namespace semihosting

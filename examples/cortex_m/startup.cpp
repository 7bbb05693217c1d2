// Start-up for a Cortex-M4 without an operating system: the vector table,
// the reset handler (copy .data, clear .bss, enable the FPU, run static
// constructors, call main) and semihosting, through which the firmware
// prints and exits when QEMU (or a debugger) hosts it.
#include <stdint.h>
#include <string.h>

#include "semihosting.h"

extern "C" {
extern uint32_t __data_start, __data_end, __data_load, __bss_start, __bss_end, __stack_top;
extern void (*__init_array_start[])(), (*__init_array_end[])();
int main();
void reset_handler();
}

namespace {

void halt() {
  semihosting::exit(1);
  for (;;) {
  }
}

}  // namespace

// Initial stack pointer, then the handlers; any fault ends the run with status 1.
__attribute__((section(".vectors"), used)) void (*const vectors[16])() = {
    reinterpret_cast<void (*)()>(&__stack_top), reset_handler, halt, halt, halt, halt, halt,
    nullptr, nullptr, nullptr, nullptr, halt, halt, nullptr, halt, halt};

extern "C" void reset_handler() {
  memcpy(&__data_start, &__data_load,
         static_cast<size_t>(reinterpret_cast<char*>(&__data_end) - reinterpret_cast<char*>(&__data_start)));
  memset(&__bss_start, 0,
         static_cast<size_t>(reinterpret_cast<char*>(&__bss_end) - reinterpret_cast<char*>(&__bss_start)));
  // Full access to the FPU (CP10, CP11), before any float instruction runs.
  *reinterpret_cast<volatile uint32_t*>(0xE000ED88) |= 0xFu << 20;
  __asm volatile("dsb\n isb");
  for (void (**f)() = __init_array_start; f != __init_array_end; ++f) (*f)();
  semihosting::exit(main());
  for (;;) {
  }
}

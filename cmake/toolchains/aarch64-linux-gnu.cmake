# Cross-compiling for 64-bit ARM Linux with Debian's g++-aarch64-linux-gnu:
#   cmake -S . -B build-arm -G Ninja --toolchain cmake/toolchains/aarch64-linux-gnu.cmake \
#     -DPYCONV_RUNTIME_ONLY=ON && cmake --build build-arm --target pyconv-run
# The binaries run on an ARM board, or here under qemu-aarch64 (Debian's
# qemu-user) with QEMU_LD_PREFIX=/usr/aarch64-linux-gnu for the ARM C library.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
# Programs (ninja, python) from the build machine; libraries and headers
# only from the ARM sysroot, so no x86 zlib or OpenMP is picked up.
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# ctest runs the test programs through the emulator.
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64 -L /usr/aarch64-linux-gnu)

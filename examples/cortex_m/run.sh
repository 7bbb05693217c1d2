#!/usr/bin/env bash
# Builds the firmware for a model exported with
#   python -m pyconv export-c MODEL.pcv -o DIR --samples X.npy
# with arm-none-eabi-gcc and newlib (no operating system, no heap, no
# exceptions), and runs it on QEMU's MPS2 AN386 board (a Cortex-M4F),
# printing each sample's predicted class on its own line. The firmware's
# flash and RAM (arm-none-eabi-size) go to stderr.
#
#   bash examples/cortex_m/run.sh DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=${1:?usage: bash examples/cortex_m/run.sh DIR (written by python -m pyconv export-c)}
for tool in arm-none-eabi-g++ qemu-system-arm; do
  command -v "$tool" >/dev/null || {
    echo "run.sh: $tool is missing (Debian: apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm)" >&2
    exit 1
  }
done
build=$(mktemp -d)
trap 'rm -rf "$build"' EXIT

flags=(-mcpu=cortex-m4 -mthumb -mfloat-abi=hard -mfpu=fpv4-sp-d16 -Os -std=c++20
       -fno-exceptions -fno-rtti -fno-threadsafe-statics -ffunction-sections -fdata-sections
       -Wall -Wextra -I"$dir" -I"$here")
arm-none-eabi-g++ "${flags[@]}" "$dir/micro/pcvm.cpp" "$dir/model.cpp" "$dir/samples.cpp" \
  "$here/main.cpp" "$here/startup.cpp" -nostartfiles --specs=nano.specs \
  -T "$here/mps2_an386.ld" -Wl,--gc-sections -lm -o "$build/firmware.elf"
arm-none-eabi-size "$build/firmware.elf" >&2

# Semihosting output to QEMU's stdout; the firmware's exit status is QEMU's.
timeout "${RUN_TIMEOUT:-600}" qemu-system-arm -M mps2-an386 -display none -monitor none -serial none \
  -chardev stdio,id=console -semihosting-config enable=on,target=native,chardev=console \
  -kernel "$build/firmware.elf"

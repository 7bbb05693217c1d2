#!/usr/bin/env bash
# CI: the C++ tests under AddressSanitizer + UndefinedBehaviorSanitizer, the
# thread pool's under ThreadSanitizer, then
# the .pcv decoder fuzzer for a bounded time on its seed corpus. Any test
# failure, sanitizer report or fuzzer crash fails the script.
# Usage: .ci/sanitizers.sh [fuzz seconds, default 60]
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS="${1:-60}"
BUILD=build/sanitize

# clang, libFuzzer and the sanitizer runtimes, cmake and ninja (Debian names).
if ! command -v clang++ >/dev/null || ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq clang libclang-rt-14-dev ninja-build cmake >/dev/null
fi

CC=clang CXX=clang++ cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPYCONV_SANITIZE=ON -DPYCONV_FUZZ=ON -DPYCONV_BUILD_TESTS=ON
cmake --build "$BUILD" -j "$(nproc)"
(cd "$BUILD" && ctest --output-on-failure)

# The thread pool's test under ThreadSanitizer (a separate runtime, so its
# own small build): jobs, errors, nesting and concurrent callers, race-free.
clang++ -std=c++17 -O1 -g -fsanitize=thread -Isrc/cpp -Itests/cpp \
  tests/cpp/test_thread_pool.cpp tests/cpp/check_main.cpp src/cpp/core/thread_pool.cpp \
  -o "$BUILD/test_thread_pool_tsan" -lpthread
TSAN_OPTIONS=halt_on_error=1 "$BUILD/test_thread_pool_tsan"

# The fuzzer adds what it finds to a scratch copy of the seeds; a crash stops
# it with a non-zero status and leaves the input as $BUILD/fuzz-crash-*.
rm -rf "$BUILD/fuzz-work" && mkdir -p "$BUILD/fuzz-work"
cp "$BUILD"/tests/fuzz/corpus/*.pcv "$BUILD/fuzz-work/"
# Only the end of its log is shown: the final statistics, or the crash report.
"$BUILD/tests/fuzz/fuzz_pcv_decode" -max_total_time="$FUZZ_SECONDS" -print_final_stats=1 \
  -artifact_prefix="$BUILD/fuzz-crash-" "$BUILD/fuzz-work" tests/fuzz/regressions 2>&1 | tail -n 60
echo "sanitizers.sh: tests and ${FUZZ_SECONDS}s of fuzzing passed"

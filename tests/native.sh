#!/usr/bin/env bash
# The native half of the test suite (the Python half is `python -m pytest`):
#  1. the C/C++ package: C++ tests, install, a consumer and the examples built
#     against the install and the wheel, C, C++, pyconv-run and Python agreeing
#     on real MNIST digits (.ci/cpp_package.sh);
#  2. the C++ tests again under AddressSanitizer + UndefinedBehaviorSanitizer,
#     then the model-file loader fuzzed for PYCONV_FUZZ_SECONDS (default 60)
#     (.ci/sanitizers.sh);
#  3. the aarch64 build under qemu-aarch64: the C++ tests, and models trained
#     here giving the same answers through the ARM pyconv-run (.ci/arm64.sh);
#  4. LeNet-5, int8 and float, exported to a Cortex-M4 under qemu-system-arm:
#     x86's classes, within the flash and RAM goals (.ci/cortex_m.sh);
#  5. the runtime-only pyconv-run's size (x86-64, aarch64) and peak memory
#     against benchmarks/runtime_budget.txt (.ci/runtime_size.sh);
#  6. the manylinux wheels for x86-64 and aarch64, built, installed and
#     tested, the ARM one under qemu-aarch64 (.ci/wheels.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/cpp_package.sh
bash .ci/sanitizers.sh "${PYCONV_FUZZ_SECONDS:-60}"
bash .ci/arm64.sh
bash .ci/cortex_m.sh
bash .ci/runtime_size.sh
bash .ci/wheels.sh

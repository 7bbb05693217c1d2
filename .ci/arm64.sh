#!/usr/bin/env bash
# CI: pyconv on 64-bit ARM, under emulation. Cross-compiles the core, the C++
# tests and pyconv-run with cmake/toolchains/aarch64-linux-gnu.cmake (Debian's
# g++-aarch64-linux-gnu), runs the tests under qemu-aarch64 (Debian's
# qemu-user), then runs two models trained here in Python, on x86, through the
# ARM pyconv-run on the 10,000 MNIST test digits that ship in the package, one
# of them quantized to int8 too: ARM and x86 must give the same class for at
# least 99.9% of the digits and probabilities within 1e-4.
#
#   .ci/arm64.sh            # JOBS=2 PYTHON=python3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
python=${PYTHON:-python3}
build=build/arm64-ci
sysroot=/usr/aarch64-linux-gnu
step() { printf '\n== %s\n' "$*"; }

if ! command -v aarch64-linux-gnu-g++ >/dev/null || ! command -v qemu-aarch64 >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++-aarch64-linux-gnu qemu-user ninja-build >/dev/null
fi

step "cross-compile for aarch64, C++ tests under qemu-aarch64"
cmake -S . -B "$build" -G Ninja --toolchain cmake/toolchains/aarch64-linux-gnu.cmake \
  -DPYCONV_BUILD_TESTS=ON -DPYCONV_RUN_STATIC=ON >/dev/null
cmake --build "$build" -j"$jobs"
(cd "$build" && ctest --output-on-failure)
run_arm=("qemu-aarch64" "-L" "$sysroot" "$build/src/cpp/tools/pyconv-run")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step "two models trained on x86, their predictions on the 10,000 test digits"
"$python" - "$work" <<'PY'
import sys
import numpy as np
import pyconv
from pyconv import layers as L
sys.path.insert(0, ".ci")
from digits import test_digits, training_digits
work = sys.argv[1]
pyconv.set_seed(0)
x, y = training_digits()
test = test_digits()
np.save(f"{work}/digits.npy", test)
# LeNet-5 as the zoo builds it (tanh, average pooling), and a model of the
# other kernels' families (batch normalization folded into a convolution,
# depthwise and pointwise convolutions, max pooling, swish).
lenet = pyconv.applications.lenet5(input_shape=(28, 28, 1), num_classes=10)
inp = pyconv.Input((28, 28, 1))
h = L.Conv2D(16, 3, padding="same", use_bias=False)(inp)
h = L.Activation("relu")(L.BatchNormalization()(h))
h = L.MaxPooling2D()(h)
h = L.DepthwiseConv2D(3, padding="same", activation="swish")(h)
h = L.Conv2D(24, 1, activation="relu")(h)
h = L.GlobalAveragePooling2D()(h)
mixed = pyconv.Model(inp, L.Dense(10, activation="softmax")(h))
for name, model in (("lenet5", lenet), ("mixed", mixed)):
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=2, batch_size=64, verbose=0)
    model.save(f"{work}/{name}.pcv")
    np.save(f"{work}/{name}_x86.npy", model.predict(test, verbose=0))
# The mixed model quantized to int8: its integer kernels (VNNI or AVX2 here,
# NEON with SDOT on ARM) give the same bytes, so the classes must agree.
quantized = pyconv.quantize(mixed, x[:500])
quantized.save(f"{work}/mixed_int8.pcv")
np.save(f"{work}/mixed_int8_x86.npy", quantized.predict(test))
PY

for name in lenet5 mixed mixed_int8; do
  step "$name through the ARM pyconv-run"
  "${run_arm[@]}" "$work/$name.pcv" "$work/digits.npy" --quiet -o "$work/${name}_arm.npy"
  "$python" - "$work/${name}_x86.npy" "$work/${name}_arm.npy" "$name" <<'PY'
import sys
import numpy as np
x86, arm = np.load(sys.argv[1]), np.load(sys.argv[2])
assert x86.shape == arm.shape, (x86.shape, arm.shape)
same = float(np.mean(x86.argmax(1) == arm.argmax(1)))
worst = float(np.abs(x86 - arm).max())
print(f"{sys.argv[3]}: ARM and x86 give the same class for {same:.2%} of {len(x86)} digits; "
      f"largest probability difference {worst:.2e}")
assert same >= 0.999 and worst <= 1e-4
PY
done
echo "arm64.sh: aarch64 build, tests and predictions passed"

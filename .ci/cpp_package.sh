#!/usr/bin/env bash
# CI: the C/C++ package. Builds the CMake project with its C++ tests, installs
# it into a temporary prefix, then builds tests/cmake_consumer and examples/
# out of tree against that prefix (and against the installed wheel, if
# `python -m pyconv --cmake-dir` works) and runs them on real MNIST digits.
#
#   .ci/cpp_package.sh            # JOBS=2 PYTHON=python3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
jobs=${JOBS:-2}
python=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix
step() { printf '\n== %s\n' "$*"; }

step "build, C++ tests, install into $prefix"
cmake -S . -B "$work/build" -DCMAKE_INSTALL_PREFIX="$prefix" -DPYCONV_BUILD_TESTS=ON >/dev/null
cmake --build "$work/build" -j"$jobs"
(cd "$work/build" && ctest --output-on-failure)
cmake --install "$work/build" >/dev/null
# Consumers get the public headers only.
test "$(cd "$prefix/include" && find . -type f | sort)" = "$(cd src/cpp/include && find . -type f -name '*.h*' | sort)"

step "consumer against the install"
cmake -S tests/cmake_consumer -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" -j"$jobs"
"$work/consumer/consumer_c"
"$work/consumer/consumer_static"

step "examples against the install"
cmake -S examples/embed_c -B "$work/embed_c" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/embed_c"
cmake -S examples/embed_cpp -B "$work/embed_cpp" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/embed_cpp"

# Real MNIST test digits: the copy that ships inside the Python package.
data=python/pyconv/datasets/data
gunzip -c "$data/t10k-images-idx3-ubyte.gz" >"$work/images"
gunzip -c "$data/t10k-labels-idx1-ubyte.gz" >"$work/labels"

step "a digit model"
model=$work/digits.pcv
if [ -x "$work/embed_cpp/embed_cpp" ]; then
  "$work/embed_cpp/embed_cpp" "$work/images" "$work/labels" "$model"
elif "$python" -c "import pyconv, sys; sys.exit(not hasattr(pyconv.Sequential, 'save'))" 2>/dev/null; then
  "$python" - "$model" <<'PY'
import sys
import pyconv
from pyconv import layers
(x, y), _ = pyconv.datasets.mnist.load_sample()
model = pyconv.Sequential([pyconv.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"),
                           layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(pyconv.data.normalize(x), y, epochs=2, verbose=0)
model.save(sys.argv[1])
PY
else  # the C++ graph directly, through a test fixture
  "$work/build/tests/cpp/make_digit_model" "$work/images" "$work/labels" "$model"
fi
if [ -f "$model" ]; then
  step "run the model: embed_c and pyconv-run"
  "$work/embed_c/embed_c" "$model" "$work/images" "$work/labels" | tee "$work/embed_c.out"
  "$python" -c "import sys; a = float(open(sys.argv[1]).read().split()[-1]); sys.exit(a < 0.85)" "$work/embed_c.out"
  "$prefix/bin/pyconv-run" "$model" "$data/t10k-images-idx3-ubyte.gz" --scale --quiet \
    --labels "$work/labels" -o "$work/out.npy" --bench 50
  test -s "$work/out.npy"
else
  echo "SKIP: no way to make a .pcv model yet (embed_cpp/main.cpp and Sequential.save are missing)"
fi

step "bad input gives exit status 2, not a crash"
head -c 1000 "$work/images" >"$work/truncated"
set +e
"$prefix/bin/pyconv-run" "$work/missing.pcv" "$work/truncated"
rc=$?
set -e
test "$rc" = 2

if cmake_dir=$("$python" -m pyconv --cmake-dir 2>/dev/null); then
  step "consumer against the wheel ($cmake_dir)"
  cmake -S tests/cmake_consumer -B "$work/consumer-wheel" -Dpyconv_DIR="$cmake_dir" >/dev/null
  cmake --build "$work/consumer-wheel" -j"$jobs"
  "$work/consumer-wheel/consumer_c"
else
  echo "SKIP: the consumer against the wheel (no pyconv wheel installed for $python)"
fi
step "C/C++ package: all checks passed"

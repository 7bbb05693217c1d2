#!/usr/bin/env bash
# CI: the C/C++ package. Builds the CMake project with its C++ tests, installs
# it into a temporary prefix, then builds tests/cmake_consumer and examples/
# out of tree against that prefix (and against the installed wheel, if
# `python -m pyconv --cmake-dir` works) and runs them on real MNIST digits:
# embed_cpp trains a model in C++ that Python then loads, and a model trained
# in Python runs through the C API; both must predict the same everywhere.
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
bash .ci/isa_symbols.sh "$work/build"
cmake --install "$work/build" >/dev/null
# Consumers get the public headers only.
test "$(cd "$prefix/include" && find . -type f | sort)" = "$(cd src/cpp/include && find . -type f -name '*.h*' | sort)"

step "consumer against the install"
cmake -S tests/cmake_consumer -B "$work/consumer" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/consumer" -j"$jobs"
"$work/consumer/consumer_c"
"$work/consumer/consumer_cpp"
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
# The last word of a program's output as a number, checked against a floor.
at_least() { "$python" -c "import sys; a = float(open(sys.argv[1]).read().split()[-1]); sys.exit(a < float(sys.argv[2]))" "$1" "$2"; }

step "a digit model trained in C++ (embed_cpp: first 8000 digits, tested on the last 2000)"
model=$work/digits.pcv
"$work/embed_cpp/embed_cpp" "$work/images" "$work/labels" "$model" "$work/embed_cpp.npy" \
  | tee "$work/embed_cpp.out"
at_least "$work/embed_cpp.out" 0.95

step "run it: embed_c and pyconv-run"
"$work/embed_c/embed_c" "$model" "$work/images" "$work/labels" | tee "$work/embed_c.out"
at_least "$work/embed_c.out" 0.95
"$prefix/bin/pyconv-run" "$model" "$data/t10k-images-idx3-ubyte.gz" --scale --quiet \
  --labels "$work/labels" -o "$work/run.npy" --bench 50
test -s "$work/run.npy"

if "$python" -c "import pyconv.models; pyconv.models.load_model" 2>/dev/null; then
  step "Python loads the C++ model and predicts what embed_cpp and pyconv-run did"
  "$python" - "$model" "$data/t10k-images-idx3-ubyte.gz" "$work/embed_cpp.npy" "$work/run.npy" <<'PY'
import gzip, sys
import numpy as np
from pyconv.models import load_model
model, images, cpp_out, run_out = sys.argv[1:]
with gzip.open(images) as f:
    x = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
x = x.astype(np.float32) / 255
p = load_model(model).predict(x, verbose=0)
test = len(x) * 4 // 5  # embed_cpp tested on the digits after the first 80%
np.testing.assert_allclose(p[test:], np.load(cpp_out), rtol=0, atol=1e-5)
np.testing.assert_allclose(p, np.load(run_out), rtol=0, atol=1e-5)
print(f"{len(x) - test} embed_cpp and {len(x)} pyconv-run outputs match Python's within 1e-5")
PY

  step "a model trained in Python runs the same through the C API (pyconv-run, embed_c)"
  py_model=$work/python.pcv
  "$python" - "$py_model" "$data/t10k-images-idx3-ubyte.gz" "$work/python_out.npy" <<'PY'
import gzip, sys
import numpy as np
import pyconv
from pyconv import layers
path, images, out = sys.argv[1:]
(x, y), _ = pyconv.datasets.mnist.load_sample()
model = pyconv.Sequential([pyconv.Input((28, 28, 1)), layers.Conv2D(8, 3, activation="relu"),
                           layers.MaxPooling2D(), layers.Flatten(), layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(pyconv.data.normalize(x), y, epochs=2, verbose=0)
model.save(path)
with gzip.open(images) as f:
    test = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
np.save(out, model.predict(test.astype(np.float32) / 255, verbose=0))
PY
  "$prefix/bin/pyconv-run" "$py_model" "$data/t10k-images-idx3-ubyte.gz" --scale --quiet \
    -o "$work/python_run.npy"
  "$python" -c "
import sys, numpy as np
np.testing.assert_allclose(np.load(sys.argv[1]), np.load(sys.argv[2]), rtol=0, atol=1e-5)
print('pyconv-run outputs of the Python model match Python within 1e-5')" \
    "$work/python_out.npy" "$work/python_run.npy"
  "$work/embed_c/embed_c" "$py_model" "$work/images" "$work/labels" | tee "$work/embed_c_py.out"
  at_least "$work/embed_c_py.out" 0.85
else
  echo "SKIP: Python checks of the .pcv files (no pyconv with load_model for $python)"
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
  "$work/consumer-wheel/consumer_cpp"
else
  echo "SKIP: the consumer against the wheel (no pyconv wheel installed for $python)"
fi
step "C/C++ package: all checks passed"

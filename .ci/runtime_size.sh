#!/usr/bin/env bash
# CI: the size and memory of the smallest runtime, so they cannot grow
# unnoticed. Builds pyconv-run with -DPYCONV_RUNTIME_ONLY=ON for x86-64 and
# for aarch64 (all layers, and only LeNet-5's with PYCONV_LAYERS), strips
# it, and checks what it loads (text + data, from `size`) against
# benchmarks/runtime_budget.txt. The LeNet-5 layers are built twice: with the
# defaults, and as small as the options make it (no Winograd, which LeNet-5's
# 5x5 kernels never use; only the reference kernels: slower; float models
# only; no bands of rows at batch 1; linked without PIE and RELRO). The
# smallest file must also stay under the goal, 204800 bytes; the others'
# file sizes are printed, not checked: on aarch64 RELRO pads them to a 64 KB
# boundary. Then classifies digits with LeNet-5: the peak resident memory
# (goal 5 MiB), the smallest build's outputs against the default build's,
# and its refusal of an int8 model file.
#
#   .ci/runtime_size.sh          # JOBS=2 PYTHON=python3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
python=${PYTHON:-python3}
lenet_layers="Conv2D;AveragePooling2D;MaxPooling2D;Flatten;Dense;Activation;Dropout"
budget() { awk -v k="$1" '$1 == k {print $2}' benchmarks/runtime_budget.txt; }
file_goal=204800
fail=0

measure() {  # arch, name, layers, cmake options...
  local arch=$1 name=$2 layers=$3 build=build/runtime-size-$1-$2 toolchain=() strip=strip
  shift 3
  local size_tool=size
  if [[ $arch == aarch64 ]]; then
    toolchain=(--toolchain cmake/toolchains/aarch64-linux-gnu.cmake)
    strip=aarch64-linux-gnu-strip
    size_tool=aarch64-linux-gnu-size
  fi
  cmake -S . -B "$build" -G Ninja "${toolchain[@]}" -DPYCONV_RUNTIME_ONLY=ON \
    "-DPYCONV_LAYERS=$layers" "$@" >/dev/null
  cmake --build "$build" -j"$jobs" --target pyconv-run >/dev/null
  "$strip" -o "$build/pyconv-run.stripped" "$build/src/cpp/tools/pyconv-run"
  local file loaded limit key="pyconv-run-$arch-$name"
  file=$(stat -c %s "$build/pyconv-run.stripped")
  loaded=$("$size_tool" "$build/pyconv-run.stripped" | awk 'NR == 2 {print $1 + $2}')
  limit=$(budget "$key")
  printf '%-34s file %7d bytes (goal %d), loaded %7d (budget %d)\n' "$key" "$file" \
    "$file_goal" "$loaded" "$limit"
  if (( loaded > limit )); then
    echo "runtime_size.sh: $key grew past its budget: look at what was added, or raise" \
         "benchmarks/runtime_budget.txt with the reason" >&2
    fail=1
  fi
  if [[ $name == *smallest ]] && (( file > file_goal )); then
    echo "runtime_size.sh: $key's file is over the $file_goal-byte goal" >&2
    fail=1
  fi
}

smallest=(-DPYCONV_WINOGRAD=OFF -DPYCONV_SIMD_KERNELS=OFF -DPYCONV_INT8=OFF
          -DPYCONV_ROW_BANDS=OFF -DPYCONV_HARDENED_LINK=OFF)
measure x86_64 all ""
measure x86_64 lenet5 "$lenet_layers"
measure x86_64 lenet5-smallest "$lenet_layers" "${smallest[@]}"
if command -v aarch64-linux-gnu-g++ >/dev/null; then
  measure aarch64 all ""
  measure aarch64 lenet5 "$lenet_layers"
  measure aarch64 lenet5-smallest "$lenet_layers" "${smallest[@]}"
fi

# Peak memory classifying one digit with LeNet-5 (x86-64, the LeNet-5 build).
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - "$work" <<'PY'
import sys
import numpy as np
import pyconv
work = sys.argv[1]
pyconv.set_seed(0)
model = pyconv.applications.lenet5(input_shape=(28, 28, 1), num_classes=10)
model.save(f"{work}/lenet5.pcv")
(x, _), _ = pyconv.datasets.mnist.load_sample(num_test=1)
digits = (x[:64, ..., None] / 255).astype(np.float32)
np.save(f"{work}/digit.npy", digits[:1])
np.save(f"{work}/digits.npy", digits)
pyconv.quantize(model, digits).save(f"{work}/lenet5_int8.pcv")
PY
# GNU time's peak (a Python parent's would count its own pages, copied at fork).
if [[ ! -x /usr/bin/time ]]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
/usr/bin/time -v build/runtime-size-x86_64-lenet5/pyconv-run.stripped "$work/lenet5.pcv" \
  "$work/digit.npy" --quiet 2> "$work/time.txt"
awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt" > "$work/rss"
echo "peak resident memory, one digit through LeNet-5: $(cat "$work/rss") KiB (goal 5120 KiB)"
rss=$(cat "$work/rss")
if (( rss > $(budget peak-rss-kib-x86_64-lenet5) )); then
  echo "runtime_size.sh: peak memory grew past benchmarks/runtime_budget.txt" >&2
  fail=1
fi
# The smallest build (reference kernels) against the default one on 64 digits,
# and its clear refusal of an int8 model (exit status 2, a format error).
small=build/runtime-size-x86_64-lenet5-smallest/pyconv-run.stripped
build/runtime-size-x86_64-lenet5/pyconv-run.stripped "$work/lenet5.pcv" "$work/digits.npy" \
  --quiet -o "$work/default.npy"
"$small" "$work/lenet5.pcv" "$work/digits.npy" --quiet -o "$work/smallest.npy"
"$python" - "$work" <<'PY' || fail=1
import sys
import numpy as np
a, b = (np.load(f"{sys.argv[1]}/{n}.npy") for n in ("default", "smallest"))
diff = float(np.abs(a - b).max())
print(f"smallest build against the default on {len(a)} digits: max difference {diff:.2e}")
sys.exit(0 if a.shape == b.shape and diff < 1e-5 else 1)
PY
status=0
"$small" "$work/lenet5_int8.pcv" "$work/digit.npy" 2> "$work/refusal.txt" || status=$?
if (( status != 2 )) || ! grep -q "PYCONV_INT8=OFF" "$work/refusal.txt"; then
  echo "runtime_size.sh: the float-only build must refuse an int8 model with exit status 2" \
       "(got $status: $(cat "$work/refusal.txt"))" >&2
  fail=1
fi
exit $fail

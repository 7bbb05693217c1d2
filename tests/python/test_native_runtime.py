"""A model trained and saved in Python runs unchanged outside Python: through
the installed C library (libpyconv.so, called with ctypes exactly as a C
program would) and through the installed `pyconv-run`, with the outputs
Python gives; the C API is safe from many threads on one model."""

import ctypes
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest

import pyconv
from native_tools import pyconv_run_outputs
from pyconv import layers

PCV_OK, PCV_ERR_ARGUMENT, PCV_ERR_SHAPE, PCV_ERR_IO, PCV_ERR_FORMAT = 0, 1, 2, 3, 4


def _library():
    for folder in pyconv.__path__:
        path = Path(folder) / "lib" / "libpyconv.so"
        if path.exists():
            lib = ctypes.CDLL(str(path))
            break
    else:
        raise AssertionError("libpyconv.so is not installed inside the pyconv package")
    model_pp = ctypes.POINTER(ctypes.c_void_p)
    lib.pcv_model_load.argtypes = [ctypes.c_char_p, model_pp]
    lib.pcv_model_load_memory.argtypes = [ctypes.c_char_p, ctypes.c_size_t, model_pp]
    lib.pcv_model_predict.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                                      ctypes.c_void_p]
    lib.pcv_model_output_shape.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_int64),
                                           ctypes.POINTER(ctypes.c_int)]
    lib.pcv_model_free.argtypes = [ctypes.c_void_p]
    lib.pcv_last_error.restype = ctypes.c_char_p
    lib.pcv_version.restype = ctypes.c_char_p
    return lib


@pytest.fixture(scope="module")
def lib():
    return _library()


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A small digit CNN trained in Python on real MNIST digits, and its file."""
    pyconv.set_seed(0)
    (x, y), (x_test, _) = pyconv.datasets.mnist.load_sample(num_test=500)
    x, x_test = pyconv.data.normalize(x[:2000]), pyconv.data.normalize(x_test)
    model = pyconv.Sequential([pyconv.Input((28, 28, 1)),
                               layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                               layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(),
                               layers.Flatten(), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x[..., None], y[:2000], batch_size=64, epochs=1, verbose=0)
    path = tmp_path_factory.mktemp("model") / "digits.pcv"
    model.save(path)
    return model, path, np.ascontiguousarray(x_test[..., None])


def c_load(lib, path):
    handle = ctypes.c_void_p()
    status = lib.pcv_model_load(str(path).encode(), ctypes.byref(handle))
    return status, handle


def c_predict(lib, handle, x):
    dims, rank = (ctypes.c_int64 * 8)(), ctypes.c_int()
    assert lib.pcv_model_output_shape(handle, dims, ctypes.byref(rank)) == PCV_OK
    out = np.empty((len(x),) + tuple(dims[:rank.value]), np.float32)
    status = lib.pcv_model_predict(handle, x.ctypes.data, len(x), out.ctypes.data)
    assert status == PCV_OK, lib.pcv_last_error()
    return out


def test_c_api_gives_python_outputs(lib, trained):
    model, path, x = trained
    assert lib.pcv_version().decode() == pyconv.__version__
    status, handle = c_load(lib, path)
    assert status == PCV_OK, lib.pcv_last_error()
    try:
        dims, rank = (ctypes.c_int64 * 8)(), ctypes.c_int()
        assert lib.pcv_model_output_shape(handle, dims, ctypes.byref(rank)) == PCV_OK
        assert list(dims[:rank.value]) == [10]
        # One batch both ways: results may differ in the last bit between batch sizes.
        np.testing.assert_array_equal(c_predict(lib, handle, x),
                                      model.predict(x, batch_size=len(x), verbose=0))
    finally:
        lib.pcv_model_free(handle)


def test_c_api_threads_on_one_model_match_serial(lib, trained):
    _, path, x = trained
    status, handle = c_load(lib, path)
    assert status == PCV_OK
    batches = [x[i * 50:(i + 1) * 50] for i in range(4)]
    serial = [c_predict(lib, handle, b) for b in batches]
    results = [[] for _ in batches]

    def work(i):  # ctypes releases the GIL around each call
        for _ in range(10):
            results[i].append(c_predict(lib, handle, batches[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    lib.pcv_model_free(handle)
    for i, runs in enumerate(results):
        for r in runs:
            np.testing.assert_array_equal(r, serial[i])


def test_c_api_reports_bad_files_and_arguments(lib, trained, tmp_path):
    _, path, x = trained
    status, handle = c_load(lib, tmp_path / "missing.pcv")
    assert status == PCV_ERR_IO and not handle.value
    assert b"missing.pcv" in lib.pcv_last_error()
    data = path.read_bytes()
    for cut in (10, len(data) // 3, len(data) - 4):
        (tmp_path / "cut.pcv").write_bytes(data[:cut])
        status, handle = c_load(lib, tmp_path / "cut.pcv")
        assert status == PCV_ERR_FORMAT and not handle.value
        assert b"truncated" in lib.pcv_last_error()
    handle = ctypes.c_void_p()
    assert lib.pcv_model_load_memory(data, len(data), ctypes.byref(handle)) == PCV_OK
    out = np.empty((1, 10), np.float32)
    assert lib.pcv_model_predict(handle, x.ctypes.data, 0, out.ctypes.data) == PCV_ERR_ARGUMENT
    assert lib.pcv_model_predict(handle, None, 1, out.ctypes.data) == PCV_ERR_ARGUMENT
    nan = np.full_like(x[:1], np.nan)
    assert lib.pcv_model_predict(handle, nan.ctypes.data, 1, out.ctypes.data) == PCV_ERR_ARGUMENT
    assert b"finite" in lib.pcv_last_error()
    lib.pcv_model_free(handle)


def test_pyconv_run_gives_python_outputs(trained, tmp_path):
    model, path, x = trained
    np.testing.assert_array_equal(pyconv_run_outputs(path, x[:64], tmp_path),
                                  model.predict(x[:64], batch_size=64, verbose=0))
    tool = shutil.which("pyconv-run")
    (tmp_path / "bad.pcv").write_bytes(path.read_bytes()[:200])
    result = subprocess.run([tool, str(tmp_path / "bad.pcv"), str(tmp_path / "x.npy")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "truncated" in result.stderr


def test_pyconv_run_breaks_ties_by_class_and_reads_integer_labels(tmp_path):
    # Classes 0 and 3 tie on every input: the printed class is 0 (argmax's)
    # whatever --top is (it was 3 with --top 2).
    model = pyconv.Sequential([pyconv.Input((4,)), layers.Dense(4, activation="softmax")])
    model.build()
    model.layers[0].set_weights([np.zeros((4, 4), np.float32),
                                 np.array([1, 0, 0, 1], np.float32)])
    model.save(tmp_path / "tied.pcv")
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    tool = shutil.which("pyconv-run")

    def run(*args):
        return subprocess.run([tool, str(tmp_path / "tied.pcv"), str(tmp_path / "x.npy"), *args],
                              capture_output=True, text=True, timeout=60)

    for top in ("1", "2", "3", "4"):
        lines = run("--top", top).stdout.splitlines()
        assert len(lines) == 5 and all(": class 0 " in line for line in lines), (top, lines)
    for dtype in (np.int8, np.int16, np.int32, np.int64, np.uint8):
        np.save(tmp_path / "labels.npy", np.array([0, 0, 3, 0, 1], dtype))
        result = run("--quiet", "--labels", str(tmp_path / "labels.npy"))
        assert result.returncode == 0 and "accuracy: 0.6000" in result.stdout, (dtype, result.stderr)
    result = run("--quiet", "-o", "")
    assert result.returncode == 2 and "-o needs a value" in result.stderr


def test_c_api_runs_a_functional_model_with_every_merge(lib, tmp_path):
    # Residual sum, a broadcast gate, concatenated branches, subtract, average
    # and maximum: the C library gives Python's outputs.
    pyconv.set_seed(3)
    inp = pyconv.Input(shape=(8, 8, 2))
    a = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    b = layers.Conv2D(4, 3, padding="same")(a)
    x = layers.Add()([a, b])
    gate = layers.AveragePooling2D(pool_size=8)(layers.Conv2D(4, 1, activation="relu")(x))
    x = layers.Multiply()([x, gate])
    y = layers.Maximum()([layers.Subtract()([x, a]), layers.Average()([x, b])])
    x = layers.Concatenate()([x, y])
    out = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
    model = pyconv.Model(inp, out)
    data = np.random.default_rng(0).random((6, 8, 8, 2), dtype=np.float32)
    assert_c_api_matches_python(lib, model, data, tmp_path / "functional.pcv")


def assert_c_api_matches_python(lib, model, data, path):
    """Saves the model, loads it through the C library, and compares outputs."""
    model.save(path)
    status, handle = c_load(lib, path)
    assert status == PCV_OK, lib.pcv_last_error()
    try:
        np.testing.assert_array_equal(c_predict(lib, handle, data),
                                      model.predict(data, batch_size=len(data), verbose=0))
    finally:
        lib.pcv_model_free(handle)


def test_c_api_runs_the_newer_layers_and_activations(lib, tmp_path):
    pyconv.set_seed(4)
    model = pyconv.Sequential([
        pyconv.Input((8, 8, 1)),
        layers.Conv2D(4, 3, activation="gelu"), layers.BatchNormalization(),
        layers.PReLU(shared_axes=[1, 2]), layers.Conv2D(4, 3, activation="swish"),
        layers.LeakyReLU(), layers.GlobalMaxPooling2D(), layers.Dense(6, activation="selu"),
        layers.ELU(), layers.Dense(10, activation="softmax")])
    model.compile("adam", "sparse_categorical_crossentropy")
    data = np.random.default_rng(1).random((16, 8, 8, 1), dtype=np.float32)
    model.fit(data, np.arange(16) % 10, epochs=2, batch_size=8, verbose=0)
    assert_c_api_matches_python(lib, model, data, tmp_path / "newer.pcv")

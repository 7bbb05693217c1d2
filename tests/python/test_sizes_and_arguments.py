"""Sizes and integer arguments at their limits: every configuration either builds with
the right shape or raises ValueError/MemoryError (never a crash, never a wrapped-around
shape); out-of-range integers raise ValueError naming the argument; the thread count is
validated and capped; read-only input arrays are accepted."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pyconv
from pyconv import _core
from pyconv import layers as L
from pyconv.data import pipeline

INT64_MAX = 2**63 - 1


def build_in_subprocess(code):
    """Builds a model in a fresh interpreter and returns what it printed. Before sizes
    were checked, these configurations wrote past a wrapped-around allocation and
    killed the process with SIGSEGV, which would take pytest down with them."""
    script = textwrap.dedent("""
        import pyconv
        from pyconv import layers as L
        try:
            {code}
        except (ValueError, MemoryError) as exc:
            print(type(exc).__name__ + ": " + str(exc))
        else:
            print("built")
    """).format(code=code)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, (
        f"the process died with code {result.returncode}: {result.stderr[-2000:]}")
    return result.stdout


def output_shape(layer, sample_shape):
    return layer.compute_output_shape((None,) + tuple(sample_shape))[1:]


# --- size arithmetic overflows -----------------------------------------------------------


def test_dense_with_a_weight_too_large_to_allocate_raises_memory_error():
    out = build_in_subprocess(
        "pyconv.Sequential([pyconv.Input((1,)), L.Dense(2**62)]).build()")
    assert out.startswith("MemoryError"), out


def test_dense_with_a_weight_count_beyond_int64_raises_value_error_naming_the_layer():
    out = build_in_subprocess(
        "pyconv.Sequential([pyconv.Input((4,)), L.Dense(2**62, name='big')]).build()")
    assert out.startswith("ValueError"), out
    assert "Dense 'big'" in out and "more elements than fit in a 64-bit integer" in out


def test_conv_with_huge_filters_raises_instead_of_crashing():
    out = build_in_subprocess(
        "pyconv.Sequential([pyconv.Input((28, 28, 1)), L.Conv2D(2**62, 1)]).build()")
    assert out.startswith(("ValueError", "MemoryError")), out


def test_conv_with_a_kernel_count_beyond_int64_raises_value_error():
    out = build_in_subprocess(
        "pyconv.Sequential([pyconv.Input((3, 3, 8)), L.Conv2D(2**61, 1)]).build()")
    assert out.startswith("ValueError"), out


def test_conv_padding_near_int64_max_raises_instead_of_a_wrong_shape():
    layer = L.Conv2D(1, 3, padding=(INT64_MAX, 0))
    with pytest.raises(ValueError, match="height of the padded input.*does not fit"):
        output_shape(layer, (28, 28, 1))


def test_conv_large_padding_that_fits_gives_the_exact_shape():
    layer = L.Conv2D(1, 3, padding=(2**40, 0))
    assert output_shape(layer, (28, 28, 1)) == (28 + 2**41 - 2, 26, 1)


def test_conv_same_padding_with_a_huge_stride_gives_one_output_pixel():
    layer = L.Conv2D(1, 3, strides=INT64_MAX, padding="same")
    assert output_shape(layer, (28, 28, 1)) == (1, 1, 1)  # ceil(28 / stride)
    model = pyconv.Sequential([pyconv.Input((28, 28, 1)), layer])
    assert model.predict(np.ones((2, 28, 28, 1), np.float32), verbose=0).shape == (2, 1, 1, 1)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_conv_huge_dilation_raises_instead_of_a_negative_shape(padding):
    layer = L.Conv2D(1, 3, dilation_rate=2**62, padding=padding)
    with pytest.raises(ValueError, match="dilated kernel.*does not fit"):
        output_shape(layer, (28, 28, 1))


@pytest.mark.parametrize("cls", [L.MaxPooling2D, L.AveragePooling2D])
def test_pooling_same_padding_with_a_huge_stride_gives_one_output_pixel(cls):
    assert output_shape(cls(2, strides=INT64_MAX, padding="same"), (28, 28, 3)) == (1, 1, 3)
    assert output_shape(cls(2**62, padding="same"), (28, 28, 3)) == (1, 1, 3)


def test_flatten_of_more_than_int64_values_raises_naming_the_layer():
    with pytest.raises(ValueError, match="'flat'.*more elements than fit"):
        output_shape(L.Flatten(name="flat"), (2**40, 2**40))
    with pytest.raises(ValueError, match="more elements than fit"):
        pyconv.Sequential([pyconv.Input((2**40, 2**40)), L.Flatten()])


# --- out-of-range Python integers --------------------------------------------------------


@pytest.mark.parametrize("units", [2**63, -2**63 - 1, np.uint64(2**63)])
def test_dense_units_out_of_int64_range(units):
    with pytest.raises(ValueError, match=f"argument 'units' = {int(units)} is out of range "
                                         "for a 64-bit integer"):
        L.Dense(units)


@pytest.mark.parametrize("make, name", [
    (lambda: L.Conv2D(2**63, 3), "filters"),
    (lambda: L.Conv2D(1, (2**64, 3)), "kernel_size"),
    (lambda: L.Conv2D(1, 3, strides=2**63), "strides"),
    (lambda: L.Conv2D(1, 3, padding=(2**63, 0)), "padding"),
    (lambda: L.Conv2D(1, 3, dilation_rate=(1, 2**70)), "dilation_rate"),
    (lambda: L.Conv2D(1, 3, groups=2**63), "groups"),
    (lambda: L.MaxPooling2D(2**63), "pool_size"),
    (lambda: L.AveragePooling2D(2, strides=2**64), "strides"),
    (lambda: L.Dropout(0.5, seed=2**64), "seed"),
])
def test_layer_integer_arguments_out_of_int64_range(make, name):
    with pytest.raises(ValueError, match=f"argument '{name}'.* is out of range for a 64-bit"):
        make()


def test_input_shape_out_of_int64_range():
    with pytest.raises(ValueError, match="shape .* is out of range for a 64-bit integer"):
        pyconv.Sequential([pyconv.Input((2**63, 1)), L.Flatten()])


def test_set_seed_accepts_the_full_unsigned_64_bit_range():
    try:
        pyconv.set_seed(2**64 - 1)
        assert _core.get_seed() == 2**64 - 1
    finally:
        pyconv.set_seed(0)


@pytest.mark.parametrize("seed", [2**64, 2**70, -1])
def test_set_seed_out_of_range(seed):
    with pytest.raises(ValueError, match="seed"):
        pyconv.set_seed(seed)
    with pytest.raises(ValueError, match=r"seed = .* expected 0 <= seed < 2\*\*64"):
        _core.set_seed(seed)


# --- thread count ------------------------------------------------------------------------


@pytest.fixture
def restore_threads():
    yield
    pyconv.set_num_threads(0)


def cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


@pytest.mark.parametrize("n", [10000, 2**70])
def test_set_num_threads_caps_at_four_per_core(restore_threads, n):
    pyconv.set_num_threads(n)
    assert 1 <= pyconv.get_num_threads() <= 4 * cores()
    x = np.random.default_rng(0).random((3, 8, 8, 1), dtype=np.float32)
    model = pyconv.Sequential([pyconv.Input((8, 8, 1)), L.Conv2D(2, 3), L.Flatten(),
                               L.Dense(2)])
    assert model.predict(x, verbose=0).shape == (3, 2)


def test_set_num_threads_zero_restores_the_default(restore_threads):
    pyconv.set_num_threads(2)
    pyconv.set_num_threads(0)
    assert 1 <= pyconv.get_num_threads() <= 4 * cores()


@pytest.mark.parametrize("n", [-1, -2**70])
def test_set_num_threads_rejects_negative_counts(restore_threads, n):
    before = pyconv.get_num_threads()
    with pytest.raises(ValueError, match="n must be 0 .* received -"):
        pyconv.set_num_threads(n)
    with pytest.raises(ValueError, match="n "):
        _core.set_num_threads(n)
    assert pyconv.get_num_threads() == before


@pytest.mark.parametrize("n", [2.0, "4", True, None])
def test_set_num_threads_rejects_non_integers(n):
    with pytest.raises(TypeError, match="integer"):
        pyconv.set_num_threads(n)


# --- read-only input arrays --------------------------------------------------------------


def read_only(a):
    a = np.array(a)
    a.flags.writeable = False
    return a


def memory_mapped(a, path):
    np.save(path, a)
    return np.load(path, mmap_mode="r")


def data(n=12):
    rng = np.random.default_rng(3)
    return (rng.integers(0, 256, (n, 6, 6, 1), dtype=np.uint8),
            rng.integers(0, 3, n).astype(np.float32))


def twin_model():
    """The same model (same seed) each call, so two can be trained side by side."""
    pyconv.set_seed(5)
    model = pyconv.Sequential([pyconv.Input((6, 6, 1)), L.Conv2D(2, 3, activation="relu"),
                               L.Flatten(), L.Dense(3, activation="softmax")])
    model.compile(pyconv.optimizers.SGD(0.05), "sparse_categorical_crossentropy")
    return model


def assert_same_weights(a, b):
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(wa, wb)


@pytest.fixture
def single_thread():
    """One thread, so that twin models train bit for bit alike."""
    pyconv.set_num_threads(1)
    yield
    pyconv.set_num_threads(0)


@pytest.fixture(params=["flag", "mmap"])
def frozen(request, tmp_path):
    """Makes an array read-only: by clearing its writeable flag, or as a real
    np.load(..., mmap_mode="r") of a file."""
    count = iter(range(100))
    if request.param == "flag":
        return read_only
    return lambda a: memory_mapped(a, tmp_path / f"array{next(count)}.npy")


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_predict_accepts_read_only_arrays(frozen, dtype):
    x, _ = data()
    x = x.astype(dtype)
    model = twin_model()
    x_ro = frozen(x)
    assert not x_ro.flags.writeable
    expected = model.predict(x.copy(), verbose=0)
    np.testing.assert_array_equal(model.predict(x_ro, verbose=0), expected)
    np.testing.assert_array_equal(model.predict(x_ro, batch_size=5, verbose=0), expected)


def test_train_on_batch_accepts_read_only_arrays(frozen, single_thread):
    x, y = data()
    x = x.astype(np.float32) / 255
    model, twin = twin_model(), twin_model()
    loss = model.train_on_batch(frozen(x), frozen(y))
    assert loss == twin.train_on_batch(x.copy(), y.copy())
    assert_same_weights(model, twin)
    assert model.test_on_batch(frozen(x), frozen(y)) == twin.test_on_batch(x, y)


def test_fit_and_evaluate_accept_read_only_arrays(frozen, single_thread):
    x, y = data()
    x_ro, y_ro = frozen(x), frozen(y)
    model, twin = twin_model(), twin_model()
    pyconv.set_seed(9)
    history = model.fit(x_ro, y_ro, batch_size=4, epochs=2, verbose=0,
                        validation_data=(x_ro, y_ro))
    pyconv.set_seed(9)
    expected = twin.fit(x.copy(), y.copy(), batch_size=4, epochs=2, verbose=0,
                        validation_data=(x.copy(), y.copy()))
    assert history.history == expected.history
    assert_same_weights(model, twin)
    assert model.evaluate(x_ro, y_ro, verbose=0) == twin.evaluate(x, y, verbose=0)


def test_batch_gather_reads_read_only_arrays(frozen):
    x, _ = data()
    indices = read_only(np.array([3, 0, 7], dtype=np.int64))
    out = pipeline.gather_batch(frozen(x), indices, scale=0.5)
    np.testing.assert_array_equal(out, x[[3, 0, 7]].astype(np.float32) * 0.5)

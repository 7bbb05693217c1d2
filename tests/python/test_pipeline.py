"""Cython batch pipeline: gather against numpy, bounds checks that leave `out`
untouched, argument errors, normalisation and BatchIterator epochs."""

import sys

import numpy as np
import pytest

from pyconv.data import _pipeline, pipeline
from pyconv.data.pipeline import BatchIterator, gather_batch, normalize


def reference(x, idx, scale=1.0, offset=0.0):
    return x[idx].astype(np.float32) * np.float32(scale) + np.float32(offset)


@pytest.fixture
def images():
    return np.random.default_rng(0).integers(0, 256, (50, 6, 5, 3), dtype=np.uint8)


# --- gather (the Cython kernel) -------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
@pytest.mark.parametrize("scale,offset", [(1.0, 0.0), (1 / 255, 0.0), (2.0, -0.5)])
def test_gather_matches_numpy(images, dtype, scale, offset):
    x = images.astype(dtype)
    idx = np.random.default_rng(1).integers(0, len(x), 17).astype(np.int64)
    out = np.empty((17,) + x.shape[1:], np.float32)
    assert _pipeline.gather(x, idx, out, scale, offset) is out
    np.testing.assert_allclose(out, reference(x, idx, scale, offset), rtol=1e-6, atol=1e-6)


def test_gather_flat_and_empty_batch():
    x = np.arange(10, dtype=np.float32)
    out = np.empty(3, np.float32)
    _pipeline.gather(x, np.array([9, 0, 9], np.int64), out)
    assert out.tolist() == [9.0, 0.0, 9.0]
    empty = np.empty((0,), np.float32)
    _pipeline.gather(x, np.empty(0, np.int64), empty)


@pytest.mark.parametrize("bad", [50, 51, -1, 2**40])
def test_gather_out_of_range_leaves_out_unchanged(images, bad):
    idx = np.array([0, 1, bad, 2], np.int64)
    out = np.full((4,) + images.shape[1:], 7.0, np.float32)
    with pytest.raises(IndexError, match=f"index {bad} .*50 samples"):
        _pipeline.gather(images, idx, out)
    assert (out == 7.0).all()


def test_gather_rejects_wrong_dtypes(images):
    out = np.empty((2,) + images.shape[1:], np.float32)
    idx = np.array([0, 1], np.int64)
    with pytest.raises(TypeError, match="src must be uint8 or float32"):
        _pipeline.gather(images.astype(np.float64), idx, out)
    with pytest.raises(TypeError, match="out must be float32"):
        _pipeline.gather(images, idx, out.astype(np.float64))
    with pytest.raises(TypeError, match="indices must be a 1-D C-contiguous int64"):
        _pipeline.gather(images, idx.astype(np.int32), out)
    with pytest.raises(TypeError, match="src must be uint8 or float32"):
        _pipeline.gather(images.astype(">f4"), idx, out)
    with pytest.raises(TypeError, match="buffer protocol"):
        _pipeline.gather([[1, 2]], idx, out)


def test_gather_accepts_formats_that_restate_native_order():
    # Found: arrays that reached a Dask worker export buffer format '=f', and
    # ctypes arrays '<f': predict on them raised "src must be uint8 or float32".
    import ctypes
    src = (ctypes.c_float * 4 * 3)()
    for i in range(3):
        for j in range(4):
            src[i][j] = i * 10 + j
    assert memoryview(src).format == ("<f" if sys.byteorder == "little" else ">f")
    out = np.empty((2, 4), np.float32)
    _pipeline.gather(src, np.array([2, 0], np.int64), out)
    np.testing.assert_array_equal(out, [[20, 21, 22, 23], [0, 1, 2, 3]])
    big_endian = np.zeros((3, 4), np.dtype(">f4" if sys.byteorder == "little" else "<f4"))
    with pytest.raises(TypeError, match="uint8 or float32"):
        _pipeline.gather(big_endian, np.array([0], np.int64), out[:1])


def test_gather_rejects_bad_layouts(images):
    idx = np.array([0, 1], np.int64)
    out = np.empty((2,) + images.shape[1:], np.float32)
    with pytest.raises(ValueError, match="src must be C-contiguous"):
        _pipeline.gather(images[:, ::2], idx, np.empty((2, 3, 5, 3), np.float32))
    with pytest.raises(ValueError, match="out must be C-contiguous"):
        _pipeline.gather(images, idx, np.empty((2, 6, 5, 6), np.float32)[..., ::2])
    readonly = out.copy()
    readonly.flags.writeable = False
    with pytest.raises(ValueError, match="out must be writable"):
        _pipeline.gather(images, idx, readonly)
    with pytest.raises(ValueError, match="expected 2 rows, received 3"):
        _pipeline.gather(images, idx, np.empty((3,) + images.shape[1:], np.float32))
    with pytest.raises(ValueError, match="expected 90 values per sample"):
        _pipeline.gather(images, idx, np.empty((2, 6, 5), np.float32))


def test_gather_rejects_out_sharing_memory_with_src():
    x = np.arange(12, dtype=np.float32).reshape(6, 2)
    with pytest.raises(ValueError, match="must not share memory"):
        _pipeline.gather(x, np.array([5, 4, 3], np.int64), x[1:4])
    np.testing.assert_array_equal(x, np.arange(12).reshape(6, 2))


def test_gather_accepts_readonly_source(images):
    images.flags.writeable = False
    out = gather_batch(images, [3, 4])
    np.testing.assert_array_equal(out, reference(images, [3, 4]))


# --- gather_batch (the Python face) ---------------------------------------------------


def test_gather_batch_allocates_and_fills_out(images):
    idx = [4, 2, 2, 49]
    got = gather_batch(images, idx, scale=0.5, offset=1.0)
    assert got.dtype == np.float32 and got.shape == (4, 6, 5, 3)
    np.testing.assert_allclose(got, reference(images, idx, 0.5, 1.0), rtol=1e-6)
    out = np.zeros_like(got)
    assert gather_batch(images, np.array(idx, np.int32), out=out) is out
    np.testing.assert_array_equal(out, reference(images, idx))


@pytest.mark.parametrize("dtype", [np.int16, np.int64, np.float64, bool, ">f4"])
def test_gather_batch_converts_other_dtypes(images, dtype):
    x = images.astype(dtype)
    np.testing.assert_allclose(gather_batch(x, [1, 0]), reference(x, [1, 0]), rtol=1e-6)


def test_gather_batch_non_contiguous_input(images):
    x = images[:, ::2, :, 1]
    np.testing.assert_array_equal(gather_batch(x, [5, 6]), reference(x, [5, 6]))


def test_gather_batch_errors(images):
    with pytest.raises(IndexError, match="50 samples"):
        gather_batch(images, [0, 50])
    with pytest.raises(TypeError, match="indices must be integers"):
        gather_batch(images, [0.0, 1.0])
    with pytest.raises(ValueError, match="indices must be 1-D"):
        gather_batch(images, [[0, 1]])
    with pytest.raises(TypeError, match="real numbers"):
        gather_batch(np.array(["a", "b"]), [0])
    with pytest.raises(TypeError, match="real numbers"):
        gather_batch(images.astype(np.complex64), [0])
    with pytest.raises(ValueError, match="scalar"):
        gather_batch(np.float32(3), [0])
    with pytest.raises(TypeError, match="out must be a float32 numpy array, received float64"):
        gather_batch(images, [0], out=np.empty((1, 6, 5, 3)))
    with pytest.raises(ValueError, match=r"out must have shape \(1, 6, 5, 3\)"):
        gather_batch(images, [0], out=np.empty((2, 6, 5, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        gather_batch(images, [0], out=np.empty((1, 6, 5, 6), np.float32)[..., ::2])


# --- normalize ------------------------------------------------------------------------


def test_normalize_uint8(images):
    got = normalize(images)
    assert got.dtype == np.float32 and got.shape == images.shape
    np.testing.assert_allclose(got, images / 255.0, rtol=1e-6, atol=1e-7)
    full = normalize(np.arange(256, dtype=np.uint8))
    assert full[0] == 0.0 and full[-1] == 1.0 and (np.diff(full) > 0).all()


def test_normalize_float_is_a_float32_copy():
    x = np.linspace(-2, 2, 10)
    got = normalize(x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, x, rtol=1e-6)
    x32 = x.astype(np.float32)
    assert normalize(x32) is not x32


def test_normalize_rejects_other_dtypes():
    with pytest.raises(TypeError, match="normalize expects uint8"):
        normalize(np.zeros(3, np.int32))


# --- BatchIterator --------------------------------------------------------------------


def test_iterator_covers_every_sample_once_per_epoch():
    x = np.arange(103, dtype=np.uint8).reshape(103, 1)
    y = np.arange(103) % 10
    it = BatchIterator(x, y, batch_size=10, shuffle=True, rng=0)
    assert len(it) == 11
    orders = []
    for _ in range(2):
        seen = []
        sizes = []
        for xb, yb in it:
            assert xb.dtype == np.float32 and yb.dtype == np.float32
            np.testing.assert_array_equal(yb, xb[:, 0] % 10)
            seen.extend(xb[:, 0].astype(int).tolist())
            sizes.append(len(xb))
        assert sorted(seen) == list(range(103))
        assert sizes == [10] * 10 + [3]
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled each epoch
    assert orders[0] != list(range(103))


def test_iterator_is_reproducible_and_ordered_without_shuffle():
    x = np.random.default_rng(3).random((20, 2, 2))
    a = [xb for xb, _ in BatchIterator(x, batch_size=7, rng=42)]
    b = [xb for xb, _ in BatchIterator(x, batch_size=7, rng=np.random.default_rng(42))]
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    ordered = [xb for xb, yb in BatchIterator(x, batch_size=7, shuffle=False)]
    np.testing.assert_allclose(np.concatenate(ordered), x.astype(np.float32))


def test_iterator_without_labels_and_with_scale(images):
    batches = list(BatchIterator(images, batch_size=64, shuffle=False, scale=1 / 255))
    assert len(batches) == 1
    xb, yb = batches[0]
    assert yb is None
    np.testing.assert_allclose(xb, images / 255.0, rtol=1e-6, atol=1e-7)


def test_iterator_allocates_per_batch_unless_reuse(images):
    kept = [xb for xb, _ in BatchIterator(images, batch_size=8, shuffle=False)]
    np.testing.assert_array_equal(np.concatenate(kept), images.astype(np.float32))
    it = BatchIterator(images, np.arange(50), batch_size=8, shuffle=False, reuse=True)
    seen = []
    for xb, yb in it:
        seen.append(xb.copy())
        np.testing.assert_array_equal(yb, np.arange(50)[len(seen) * 8 - 8:len(seen) * 8])
    np.testing.assert_array_equal(np.concatenate(seen), images.astype(np.float32))
    first, second = [xb for xb, _ in it][:2]
    assert np.shares_memory(first, second)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True, None, "8"])
def test_iterator_rejects_bad_batch_size(images, bad):
    with pytest.raises(ValueError, match=f"batch_size must be a positive integer, received {bad!r}"):
        BatchIterator(images, batch_size=bad)


def test_iterator_accepts_numpy_batch_size(images):
    assert len(BatchIterator(images, batch_size=np.int64(16))) == 4


def test_iterator_rejects_length_mismatch(images):
    with pytest.raises(ValueError, match=r"same number of samples.*len\(x\)=50 and len\(y\)=49"):
        BatchIterator(images, np.zeros(49), batch_size=8)


def test_iterator_rejects_empty_x():
    with pytest.raises(ValueError, match="at least one sample"):
        BatchIterator(np.zeros((0, 28, 28), np.uint8), batch_size=8)


def test_module_exports():
    assert set(pipeline.__all__) == {"BatchIterator", "gather_batch", "normalize"}

"""mnist / fashion_mnist loaders: search order, validation, offline failure,
checksummed download (over file:// URLs), the bundled sample and the Debian
Fashion-MNIST package."""

import gzip
import hashlib
import os
import pathlib

import numpy as np
import pytest

from pyconv.datasets import DatasetNotFoundError, IDXFormatError, fashion_mnist, mnist
from pyconv.datasets.idx import write_idx

NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
DEBIAN_FASHION = "/usr/share/datasets/fashion-mnist"


def make_split(seed, n_train=12, n_test=5):
    rng = np.random.default_rng(seed)
    return {
        "x_train": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "y_train": rng.integers(0, 10, n_train, dtype=np.uint8),
        "x_test": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "y_test": rng.integers(0, 10, n_test, dtype=np.uint8),
    }


def write_dataset(directory, arrays, compress=()):
    """Writes real IDX files; keys in `compress` are gzip-compressed (.gz)."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        path = directory / NAMES[key]
        write_idx(path, array)
        if key in compress:
            data = path.read_bytes()
            path.unlink()
            (directory / (NAMES[key] + ".gz")).write_bytes(gzip.compress(data))
    return directory


def assert_loaded(result, arrays):
    (x_train, y_train), (x_test, y_test) = result
    for key, got in zip(NAMES, (x_train, y_train, x_test, y_test)):
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, arrays[key])


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """No $PYCONV_DATA, an empty HOME (so an empty user cache), no system dirs."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("PYCONV_DATA", raising=False)
    for module in (mnist, fashion_mnist):
        monkeypatch.setattr(module, "SYSTEM_DIRS", ())
    return home


@pytest.mark.parametrize("module", [mnist, fashion_mnist])
@pytest.mark.parametrize("compress", [(), tuple(NAMES), ("x_train", "y_test")])
def test_explicit_path(isolated, tmp_path, module, compress):
    arrays = make_split(1)
    directory = write_dataset(tmp_path / "d", arrays, compress)
    result = module.load_data(path=directory, download=False)
    assert_loaded(result, arrays)
    (x_train, y_train), (x_test, y_test) = result
    assert x_train.shape == (12, 28, 28) and y_train.shape == (12,)
    assert x_test.shape == (5, 28, 28) and y_test.shape == (5,)


def test_explicit_path_as_string(isolated, tmp_path):
    arrays = make_split(2)
    write_dataset(tmp_path / "d", arrays)
    assert_loaded(mnist.load_data(str(tmp_path / "d"), download=False), arrays)


def test_path_comes_before_env(isolated, tmp_path, monkeypatch):
    explicit, env = make_split(3), make_split(4)
    write_dataset(tmp_path / "explicit", explicit)
    write_dataset(tmp_path / "env", env)
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "env"))
    assert_loaded(mnist.load_data(path=tmp_path / "explicit", download=False), explicit)
    assert_loaded(mnist.load_data(download=False), env)


@pytest.mark.parametrize("module", [mnist, fashion_mnist])
def test_env_subdirectory(isolated, tmp_path, monkeypatch, module):
    arrays = make_split(5)
    write_dataset(tmp_path / "env" / module.NAME, arrays, compress=("x_test",))
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "env"))
    assert_loaded(module.load_data(download=False), arrays)


def test_env_comes_before_cache(isolated, tmp_path, monkeypatch):
    env, cache = make_split(6), make_split(7)
    write_dataset(tmp_path / "env", env)
    write_dataset(isolated / ".pyconv" / "datasets" / "mnist", cache)
    assert_loaded(mnist.load_data(download=False), cache)
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "env"))
    assert_loaded(mnist.load_data(download=False), env)


def test_cache_comes_before_system(isolated, tmp_path, monkeypatch):
    cache, system = make_split(8), make_split(9)
    write_dataset(tmp_path / "system", system)
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", (str(tmp_path / "system"),))
    assert_loaded(mnist.load_data(download=False), system)
    write_dataset(isolated / ".pyconv" / "datasets" / "mnist", cache)
    assert_loaded(mnist.load_data(download=False), cache)


def test_incomplete_directory_is_skipped(isolated, tmp_path, monkeypatch):
    arrays = make_split(10)
    partial = {k: v for k, v in arrays.items() if k != "y_test"}
    write_dataset(tmp_path / "partial", partial)
    write_dataset(tmp_path / "env", arrays)
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "env"))
    assert_loaded(mnist.load_data(path=tmp_path / "partial", download=False), arrays)


def test_not_found_lists_every_place(isolated, tmp_path, monkeypatch):
    write_dataset(tmp_path / "partial", {"x_train": make_split(0)["x_train"]})
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(mnist, "SYSTEM_DIRS", ("/nonexistent/pyconv-system-dir",))
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data(path=tmp_path / "partial", download=False)
    message = str(info.value)
    assert isinstance(info.value, OSError)
    assert str(tmp_path / "partial") in message
    assert "missing train-labels-idx1-ubyte[.gz]" in message
    assert str(tmp_path / "env") in message
    assert str(tmp_path / "env" / "mnist") in message
    assert str(isolated / ".pyconv" / "datasets" / "mnist") in message
    assert "/nonexistent/pyconv-system-dir" in message
    assert "download=False" in message
    assert "path=" in message and "PYCONV_DATA" in message
    assert not (isolated / ".pyconv").exists()


def test_not_found_without_env(isolated):
    with pytest.raises(DatasetNotFoundError, match=r"\$PYCONV_DATA: not set"):
        fashion_mnist.load_data(download=False)


def test_mismatched_counts(isolated, tmp_path):
    arrays = make_split(11)
    arrays["y_train"] = arrays["y_train"][:-1]
    write_dataset(tmp_path / "d", arrays)
    with pytest.raises(IDXFormatError, match="expected as many labels as images.*12 images.*11 labels"):
        mnist.load_data(path=tmp_path / "d", download=False)


def test_wrong_image_shape(isolated, tmp_path):
    arrays = make_split(12)
    arrays["x_test"] = np.zeros((5, 28, 27), np.uint8)
    write_dataset(tmp_path / "d", arrays)
    with pytest.raises(IDXFormatError, match=r"expected uint8 images of shape \(N, 28, 28\)"):
        mnist.load_data(path=tmp_path / "d", download=False)


def test_wrong_label_dtype_and_range(isolated, tmp_path):
    arrays = make_split(13)
    arrays["y_train"] = arrays["y_train"].astype(np.int32)
    write_dataset(tmp_path / "d", arrays)
    with pytest.raises(IDXFormatError, match="expected uint8 labels"):
        mnist.load_data(path=tmp_path / "d", download=False)
    arrays["y_train"] = np.full(12, 10, np.uint8)
    write_dataset(tmp_path / "d", arrays)
    with pytest.raises(IDXFormatError, match="expected labels 0 to 9, found 10"):
        mnist.load_data(path=tmp_path / "d", download=False)


def test_corrupt_file_is_not_skipped(isolated, tmp_path, monkeypatch):
    # A damaged file must be reported, not silently replaced by another copy.
    write_dataset(tmp_path / "env", make_split(14))
    monkeypatch.setenv("PYCONV_DATA", str(tmp_path / "env"))
    directory = write_dataset(tmp_path / "d", make_split(15))
    (directory / NAMES["x_train"]).write_bytes(b"\0\0\x08\x03")
    with pytest.raises(IDXFormatError, match="expected"):
        mnist.load_data(path=directory, download=False)


# --- download, through file:// URLs so that no network is needed ------------------


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """A local 'mirror' with the four .gz files, and their SHA-256s installed."""
    arrays = make_split(20)
    directory = write_dataset(tmp_path / "mirror", arrays, compress=tuple(NAMES))
    sums = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in directory.iterdir()
    }
    monkeypatch.setattr(mnist, "SHA256", sums)
    return arrays, directory.as_uri() + "/"


def test_download_into_cache(isolated, mirror, monkeypatch):
    arrays, url = mirror
    monkeypatch.setattr(mnist, "MIRRORS", ("file:///nonexistent/pyconv-mirror/", url))
    assert_loaded(mnist.load_data(), arrays)
    cache = isolated / ".pyconv" / "datasets" / "mnist"
    assert sorted(os.listdir(cache)) == sorted(n + ".gz" for n in NAMES.values())
    # Second call reads the cache, even with every mirror gone.
    monkeypatch.setattr(mnist, "MIRRORS", ())
    assert_loaded(mnist.load_data(download=True), arrays)


def test_download_fetches_only_missing_files(isolated, mirror, monkeypatch):
    arrays, url = mirror
    monkeypatch.setattr(mnist, "MIRRORS", (url,))
    cache = write_dataset(isolated / ".pyconv" / "datasets" / "mnist",
                          {"x_train": arrays["x_train"]})
    assert_loaded(mnist.load_data(), arrays)
    assert (cache / NAMES["x_train"]).exists()
    assert not (cache / (NAMES["x_train"] + ".gz")).exists()


def test_download_checksum_mismatch(isolated, mirror, monkeypatch):
    _, url = mirror
    monkeypatch.setattr(mnist, "MIRRORS", (url,))
    bad = dict(mnist.SHA256, **{"train-labels-idx1-ubyte.gz": "0" * 64})
    monkeypatch.setattr(mnist, "SHA256", bad)
    with pytest.raises(DatasetNotFoundError, match="SHA-256 mismatch"):
        mnist.load_data()
    cache = isolated / ".pyconv" / "datasets" / "mnist"
    # The good file stays, the bad one never appears, no partial files are left.
    assert os.listdir(cache) == ["train-images-idx3-ubyte.gz"]


def test_download_failure_lists_mirrors(isolated, monkeypatch):
    monkeypatch.setattr(mnist, "MIRRORS", ("file:///nonexistent/pyconv-mirror/",))
    with pytest.raises(DatasetNotFoundError) as info:
        mnist.load_data()
    assert "file:///nonexistent/pyconv-mirror/train-images-idx3-ubyte.gz" in str(info.value)


def test_published_checksums_are_well_formed():
    for module in (mnist, fashion_mnist):
        assert sorted(module.SHA256) == sorted(n + ".gz" for n in NAMES.values())
        for digest in module.SHA256.values():
            assert len(digest) == 64 and int(digest, 16) >= 0
    assert mnist.SHA256["t10k-images-idx3-ubyte.gz"].startswith("8d422c7b")


# --- real data -----------------------------------------------------------------------


MNIST_TEST_HISTOGRAM = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def test_load_sample_is_the_mnist_test_set():
    (x_train, y_train), (x_test, y_test) = mnist.load_sample()
    assert x_train.shape == (8000, 28, 28) and y_train.shape == (8000,)
    assert x_test.shape == (2000, 28, 28) and y_test.shape == (2000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    labels = np.concatenate([y_train, y_test])
    assert np.bincount(labels, minlength=10).tolist() == MNIST_TEST_HISTOGRAM
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    assert x_train.max() == 255 and x_train.min() == 0


def test_load_sample_split_is_fixed():
    (x_a, y_a), (xt_a, yt_a) = mnist.load_sample(num_test=9999)
    (x_b, y_b), (xt_b, yt_b) = mnist.load_sample(num_test=1)
    assert len(x_a) == 1 and y_a.tolist() == [7]
    assert yt_a[:9].tolist() == [2, 1, 0, 4, 1, 4, 9, 5, 9]
    np.testing.assert_array_equal(x_b[-9998:], xt_a[:-1])
    np.testing.assert_array_equal(yt_b, yt_a[-1:])


@pytest.mark.parametrize("bad", [0, -1, 10000, 20000, 2.5, "100", None, True])
def test_load_sample_rejects_bad_num_test(bad):
    with pytest.raises(ValueError, match="num_test must be an integer with 0 < num_test < 10000"):
        mnist.load_sample(num_test=bad)


def test_load_sample_accepts_numpy_int():
    (_, _), (x_test, _) = mnist.load_sample(num_test=np.int64(500))
    assert x_test.shape == (500, 28, 28)


@pytest.mark.skipif(
    not os.path.isdir(DEBIAN_FASHION),
    reason=f"Debian package dataset-fashion-mnist is not installed ({DEBIAN_FASHION} missing)",
)
def test_fashion_mnist_from_debian_package(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PYCONV_DATA", raising=False)
    (x_train, y_train), (x_test, y_test) = fashion_mnist.load_data(download=False)
    assert x_train.shape == (60000, 28, 28) and y_train.shape == (60000,)
    assert x_test.shape == (10000, 28, 28) and y_test.shape == (10000,)
    for a in (x_train, y_train, x_test, y_test):
        assert a.dtype == np.uint8
    # Fashion-MNIST is balanced: 6000 training and 1000 test images per class.
    assert np.bincount(y_train, minlength=10).tolist() == [6000] * 10
    assert np.bincount(y_test, minlength=10).tolist() == [1000] * 10
    assert len(fashion_mnist.CLASS_NAMES) == 10

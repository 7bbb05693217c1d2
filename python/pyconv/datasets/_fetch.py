"""Finds (or downloads) the four IDX files of an MNIST-style dataset.

Search order: path= argument, $PYCONV_DATA (itself, then $PYCONV_DATA/<name>),
the user cache ~/.pyconv/datasets/<name>, system directories, then a download
into the user cache. Shared by mnist.py and fashion_mnist.py.
"""

import hashlib
import http.client
import os
import tempfile
import urllib.request

import numpy as np

from .idx import IDXFormatError, read_idx

# (split, role) -> file name without the optional ".gz".
FILES = {
    ("train", "images"): "train-images-idx3-ubyte",
    ("train", "labels"): "train-labels-idx1-ubyte",
    ("test", "images"): "t10k-images-idx3-ubyte",
    ("test", "labels"): "t10k-labels-idx1-ubyte",
}
ENV_VAR = "PYCONV_DATA"
TIMEOUT_S = 5  # short, so that an offline machine fails fast
_CHUNK = 1 << 20
_MAX_DOWNLOAD = 256 << 20  # far above any file here; stops a runaway response


class DatasetNotFoundError(OSError):
    """The dataset files were found nowhere and could not be downloaded."""


def cache_dir(name):
    """The user cache for dataset `name`: ~/.pyconv/datasets/<name>."""
    return os.path.join(os.path.expanduser("~"), ".pyconv", "datasets", name)


def keras_datasets_dir():
    """Where Keras keeps the datasets it downloaded: $KERAS_HOME/datasets, or
    ~/.keras/datasets."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return os.path.join(home, "datasets")


def read_keras_npz(path, image_shape=(28, 28), num_classes=10):
    """((x_train, y_train), (x_test, y_test)) from a Keras .npz (mnist.npz),
    checked as the IDX files are."""
    with np.load(path, allow_pickle=False) as f:
        missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f]
        if missing:
            raise IDXFormatError(f"{path}: expected the arrays x_train, y_train, x_test and "
                                 f"y_test, missing {', '.join(missing)}")
        splits = ((f["x_train"], f["y_train"]), (f["x_test"], f["y_test"]))
    for x, y in splits:
        if x.dtype != np.uint8 or x.shape[1:] != tuple(image_shape) or y.dtype != np.uint8 \
                or y.shape != (len(x),) or (y.size and int(y.max()) >= num_classes):
            raise IDXFormatError(f"{path}: expected uint8 images (N, {image_shape[0]}, "
                                 f"{image_shape[1]}) and N uint8 labels below {num_classes}, "
                                 f"found {x.dtype} {x.shape} and {y.dtype} {y.shape}")
    return splits


def _candidates(name, path, system_dirs):
    """(where, directory) pairs in search order; directory is None if unset."""
    places = []
    if path is not None:
        places.append(("path=", os.fspath(path)))
    env = os.environ.get(ENV_VAR)
    if env:
        places.append((f"${ENV_VAR}", env))
        places.append((f"${ENV_VAR}/{name}", os.path.join(env, name)))
    else:
        places.append((f"${ENV_VAR}", None))
    places.append(("user cache", cache_dir(name)))
    # Keras's own download of the IDX files (Fashion-MNIST keeps them so).
    places.append(("Keras cache", os.path.join(keras_datasets_dir(), name.replace("_", "-"))))
    places.extend(("system", d) for d in system_dirs)
    return places


def _find(directory):
    """Maps each (split, role) to its file in `directory`, raw preferred over .gz."""
    found = {}
    for key, base in FILES.items():
        for candidate in (base, base + ".gz"):
            full = os.path.join(directory, candidate)
            if os.path.isfile(full):
                found[key] = full
                break
    return found


def _describe(directory, found):
    if directory is None:
        return "not set"
    if not os.path.isdir(directory):
        return "no such directory"
    if not found:
        return "no dataset files"
    missing = [FILES[k] + "[.gz]" for k in FILES if k not in found]
    return "incomplete, missing " + ", ".join(missing)


def read_pair(images_path, labels_path, image_shape=(28, 28), num_classes=10):
    """Reads one split and checks it: uint8 images (N, *image_shape), labels (N,)."""
    x = read_idx(images_path)
    y = read_idx(labels_path)
    if x.dtype != np.uint8 or x.shape[1:] != tuple(image_shape) or x.ndim != 1 + len(image_shape):
        raise IDXFormatError(
            f"{images_path}: expected uint8 images of shape (N, "
            f"{', '.join(map(str, image_shape))}), found {x.dtype} of shape {x.shape}"
        )
    if y.dtype != np.uint8 or y.ndim != 1:
        raise IDXFormatError(
            f"{labels_path}: expected uint8 labels of shape (N,), "
            f"found {y.dtype} of shape {y.shape}"
        )
    if len(x) != len(y):
        raise IDXFormatError(
            f"expected as many labels as images, found {len(x)} images in "
            f"{images_path} and {len(y)} labels in {labels_path}"
        )
    if y.size and int(y.max()) >= num_classes:
        raise IDXFormatError(
            f"{labels_path}: expected labels 0 to {num_classes - 1}, found {int(y.max())}"
        )
    return x, y


def _read_all(found):
    return tuple(read_pair(found[(s, "images")], found[(s, "labels")]) for s in ("train", "test"))


def _download_one(url, target, sha256):
    """Downloads `url` to `target` through a temporary file in the same directory;
    only a file whose SHA-256 matches is renamed into place."""
    fd, tmp = tempfile.mkstemp(
        dir=os.path.dirname(target), prefix="." + os.path.basename(target) + ".", suffix=".part"
    )
    try:
        digest = hashlib.sha256()
        size = 0
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > _MAX_DOWNLOAD:
                    raise OSError(f"expected at most {_MAX_DOWNLOAD} bytes, received more")
                digest.update(chunk)
                out.write(chunk)
        if digest.hexdigest() != sha256:
            raise OSError(f"SHA-256 mismatch: expected {sha256}, found {digest.hexdigest()}")
        os.replace(tmp, target)
    except BaseException:
        os.unlink(tmp)
        raise


def _download(name, mirrors, sha256s, missing):
    """Fetches the `missing` (split, role) files into the cache. Returns None on
    success, else a one-line reason. Gives up at the first file that no mirror
    serves, so an offline machine waits at most one timeout per mirror."""
    directory = cache_dir(name)
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as exc:
        return f"cannot create {directory}: {exc}"
    for key in missing:
        filename = FILES[key] + ".gz"
        errors = []
        for mirror in mirrors:
            url = mirror + filename
            try:
                _download_one(url, os.path.join(directory, filename), sha256s[filename])
                break
            except (OSError, ValueError, http.client.HTTPException) as exc:
                # URLError, timeouts, bad checksum, cut-off responses
                errors.append(f"{url}: {exc}")
        else:
            return "failed: " + "; ".join(errors)
    return None


def load_data(name, title, path, download, system_dirs, mirrors, sha256s):
    """Returns ((x_train, y_train), (x_test, y_test)) from the first directory that
    holds all four files, downloading into the user cache as a last resort."""
    report = []
    for where, directory in _candidates(name, path, system_dirs):
        found = _find(directory) if directory is not None else {}
        if len(found) == len(FILES):
            return _read_all(found)
        shown = where if directory is None else f"{directory} ({where})"
        report.append(f"  - {shown}: {_describe(directory, found)}")
    npz = os.path.join(keras_datasets_dir(), name + ".npz")  # Keras's mnist.npz
    if os.path.isfile(npz):
        return read_keras_npz(npz)
    report.append(f"  - {npz} (Keras cache): no such file")

    cache = cache_dir(name)
    if download:
        missing = [k for k in FILES if k not in _find(cache)]
        reason = _download(name, mirrors, sha256s, missing)
        if reason is None:
            return _read_all(_find(cache))
        report.append(f"  - download from {', '.join(mirrors)}: {reason}")
    else:
        report.append("  - download: skipped (download=False)")

    names = ", ".join(f + "[.gz]" for f in FILES.values())
    raise DatasetNotFoundError(
        f"{title} not found. Expected the four files {names} in one directory. "
        f"Looked in:\n" + "\n".join(report) + "\n"
        f"Provide them by passing load_data(path='/dir/with/files'), by setting "
        f"{ENV_VAR}=/dir/with/files, or by copying them to {cache}."
    )

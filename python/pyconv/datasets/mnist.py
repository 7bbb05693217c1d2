"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28 x 28, uint8."""

import importlib.resources
import numbers

from . import _fetch

NAME = "mnist"
# Read at call time, so tests can monkeypatch them.
SYSTEM_DIRS = ("/usr/share/datasets/mnist", "/usr/share/mnist", "/usr/share/dataset-mnist")
MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
SHA256 = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}
SAMPLE_SIZE = 10000


def load_data(path=None, download=True):
    """Loads MNIST as `((x_train, y_train), (x_test, y_test))`, like Keras.

    x: uint8 (N, 28, 28); y: uint8 (N,), digits 0-9. Looks in `path` (a
    directory), $PYCONV_DATA, ~/.pyconv/datasets/mnist, system directories, and
    finally downloads into the cache (checked against SHA-256) unless
    `download=False`. Raises DatasetNotFoundError (an OSError) if all fail.
    """
    return _fetch.load_data(NAME, "MNIST", path, download, SYSTEM_DIRS, MIRRORS, SHA256)


def load_sample(num_test=2000):
    """The real MNIST test set (10,000 digits) shipped with pyconv, split into
    `((x_train, y_train), (x_test, y_test))`: the last `num_test` digits are the
    test part. Works offline; meant for demos and quick checks."""
    if isinstance(num_test, bool) or not isinstance(num_test, numbers.Integral) \
            or not 0 < num_test < SAMPLE_SIZE:
        raise ValueError(
            f"num_test must be an integer with 0 < num_test < {SAMPLE_SIZE}, "
            f"received {num_test!r}"
        )
    num_test = int(num_test)
    data = importlib.resources.files(__package__) / "data"
    with importlib.resources.as_file(data / "t10k-images-idx3-ubyte.gz") as images, \
            importlib.resources.as_file(data / "t10k-labels-idx1-ubyte.gz") as labels:
        x, y = _fetch.read_pair(images, labels)
    cut = len(x) - num_test
    return (x[:cut], y[:cut]), (x[cut:], y[cut:])

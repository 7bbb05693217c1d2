"""Fashion-MNIST (Zalando): 60,000 training and 10,000 test images of clothing,
28 x 28, uint8, 10 classes. A drop-in replacement for MNIST."""

from . import _fetch

NAME = "fashion_mnist"
# Debian/Ubuntu package dataset-fashion-mnist. Read at call time (monkeypatchable).
SYSTEM_DIRS = ("/usr/share/datasets/fashion-mnist",)
MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
# SHA-256 of the upstream .gz files (official MD5s 8d4fb7e6, 25c81989, bef4ecab,
# bb300cfd). Debian's copies hold the same deflate streams but a normalised gzip
# header (no file name, new mtime), so their own hashes differ; only downloads
# are checked against these.
SHA256 = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)


def load_data(path=None, download=True):
    """Loads Fashion-MNIST as `((x_train, y_train), (x_test, y_test))`, like Keras.

    x: uint8 (N, 28, 28); y: uint8 (N,), classes 0-9 (see CLASS_NAMES). Looks in
    `path` (a directory), $PYCONV_DATA, ~/.pyconv/datasets/fashion_mnist, the
    Debian package dataset-fashion-mnist, and finally downloads into the cache
    (checked against SHA-256) unless `download=False`. Raises
    DatasetNotFoundError (an OSError) if all fail.
    """
    return _fetch.load_data(NAME, "Fashion-MNIST", path, download, SYSTEM_DIRS, MIRRORS, SHA256)

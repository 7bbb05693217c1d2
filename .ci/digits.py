"""The MNIST digits the CI scripts train and test on, for .ci/arm64.sh and
.ci/cortex_m.sh (imported with .ci on sys.path)."""

import gzip

import numpy as np

import pyconv


def training_digits():
    """The bundled MNIST sample's training part: (x (N, 28, 28, 1) in [0, 1], y)."""
    (x, y), _ = pyconv.datasets.mnist.load_sample()
    return pyconv.data.normalize(x).reshape(-1, 28, 28, 1), y


def test_digits(count=None):
    """The 10,000 MNIST test digits shipped in the package (or the first
    `count`), as float32 (N, 28, 28, 1) in [0, 1]."""
    with gzip.open("python/pyconv/datasets/data/t10k-images-idx3-ubyte.gz") as f:
        digits = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    return (digits[:count].astype(np.float32) / 255).astype(np.float32)

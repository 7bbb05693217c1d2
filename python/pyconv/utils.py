"""Small helpers with Keras names, and the plotting functions (matplotlib)."""

import numpy as np

from .data.py_dataset import PyDataset, Sequence
from .plotting import (plot_feature_maps, plot_filters, plot_heat_map, plot_history,
                       plot_model)


def set_random_seed(seed):
    """Seeds Python's random, NumPy's global generator and pyconv (weights,
    dropout, shuffling), as Keras's set_random_seed seeds its backends."""
    import random

    from . import _random

    _random.set_seed(seed)  # checks the seed
    random.seed(seed)
    np.random.seed(seed % 2**32)


def to_categorical(y, num_classes=None, dtype="float32"):
    """Integer class labels (N,) -> one-hot rows (N, num_classes)."""
    y = np.asarray(y)
    if y.ndim > 1 and y.shape[-1] == 1:
        y = y.reshape(y.shape[:-1])
    if y.size and (y.dtype.kind not in "iuf" or np.any(y != np.floor(y)) or y.min() < 0):
        raise ValueError("to_categorical expects non-negative integer labels")
    if y.size and y.max() >= 2**31:  # (also past int64 for a float 1e20)
        raise ValueError(f"to_categorical expects labels below 2**31 (one column each), "
                         f"received {y.max()}")
    y = y.astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    elif y.size and y.max() >= num_classes:
        raise ValueError(f"label {int(y.max())} is out of range for num_classes={num_classes}")
    out = np.zeros(y.shape + (num_classes,), dtype=dtype)
    np.put_along_axis(out, y[..., None], 1, axis=-1)
    return out

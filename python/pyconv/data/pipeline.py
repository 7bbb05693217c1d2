"""The Python face of the Cython batch pipeline: argument checks, then one
GIL-free call into `_pipeline.gather` per batch."""

import numbers

import numpy as np

from . import _pipeline

__all__ = ["BatchIterator", "gather_batch", "normalize"]

_FAST_DTYPES = (np.dtype(np.uint8), np.dtype(np.float32))


def _as_source(x, name="x"):
    """`x` as a C-contiguous (N, ...) uint8 or float32 array; other real numeric
    dtypes are converted to float32 here, in numpy."""
    x = np.asarray(x)
    if x.ndim == 0:
        raise ValueError(f"{name} must have a sample axis, received a scalar of shape ()")
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must hold real numbers, received dtype {x.dtype}")
    if x.dtype not in _FAST_DTYPES:  # also catches non-native byte order
        x = x.astype(np.float32)
    return np.ascontiguousarray(x)


def _as_indices(indices):
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise ValueError(f"indices must be 1-D, received shape {indices.shape}")
    if indices.size and indices.dtype.kind not in "iu":
        raise TypeError(f"indices must be integers, received dtype {indices.dtype}")
    return np.ascontiguousarray(indices, dtype=np.int64)


def _check_out(out, shape):
    if not isinstance(out, np.ndarray) or out.dtype != np.float32:
        found = out.dtype if isinstance(out, np.ndarray) else type(out).__name__
        raise TypeError(f"out must be a float32 numpy array, received {found}")
    if out.shape != shape:
        raise ValueError(f"out must have shape {shape}, received {out.shape}")
    if not (out.flags.c_contiguous and out.flags.writeable):
        raise ValueError("out must be C-contiguous and writable")


def gather_batch(x, indices, out=None, scale=1.0, offset=0.0):
    """Returns `x[indices] * scale + offset` as float32 (B, ...), computed without
    the GIL. x: (N, ...) array; indices: integer (B,). Writes into `out` if given.
    Raises IndexError for an index outside [0, N), before writing anything."""
    x = _as_source(x)
    indices = _as_indices(indices)
    shape = (len(indices),) + x.shape[1:]
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    else:
        _check_out(out, shape)
    _pipeline.gather(x, indices, out, float(scale), float(offset))
    return out


def normalize(x):
    """float32 copy of `x`: uint8 scaled to [0, 1] (x / 255), floats unchanged."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return gather_batch(x, np.arange(len(x)), scale=1.0 / 255.0)
    if x.dtype.kind == "f":
        return x.astype(np.float32)
    raise TypeError(
        f"normalize expects uint8 (scaled by 1/255) or floating-point data, "
        f"received dtype {x.dtype} with shape {x.shape}"
    )


class BatchIterator:
    """Iterates over `(xb, yb)` float32 mini-batches of `(x, y)`, one epoch per
    `iter()`, in a new random order each epoch when `shuffle` is true.

    The last batch may be smaller. `y` may be None (then `yb` is None). Each batch
    is a new array unless `reuse=True`, which recycles one buffer: faster, but a
    batch is overwritten by the next one, so do not keep references to it.
    `xb = x[idx] * scale + offset`, e.g. `scale=1/255` for uint8 images.
    """

    def __init__(self, x, y=None, batch_size=32, shuffle=True, rng=None, reuse=False,
                 scale=1.0, offset=0.0):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) \
                or batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
        self.x = _as_source(x)
        if len(self.x) == 0:
            raise ValueError(f"x must contain at least one sample, received shape {self.x.shape}")
        self.y = None
        if y is not None:
            y = np.asarray(y)
            if y.ndim == 0 or len(y) != len(self.x):
                got = "a scalar" if y.ndim == 0 else f"len(y)={len(y)}"
                raise ValueError(
                    "x and y must have the same number of samples, received "
                    f"len(x)={len(self.x)} and {got}"
                )
            self.y = _as_source(y, "y").astype(np.float32, copy=False)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.rng = np.random.default_rng(rng)
        self.reuse = bool(reuse)
        self.scale = float(scale)
        self.offset = float(offset)
        self._buffers = None

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def _buffer(self, size):
        """Recycled (xb, yb) buffers, sized for a full batch; sliced for the last."""
        if self._buffers is None:
            full = (self.batch_size,)
            self._buffers = (
                np.empty(full + self.x.shape[1:], dtype=np.float32),
                None if self.y is None else np.empty(full + self.y.shape[1:], np.float32),
            )
        xb, yb = self._buffers
        return xb[:size], None if yb is None else yb[:size]

    def __iter__(self):
        n = len(self.x)
        order = self.rng.permutation(n) if self.shuffle else np.arange(n)
        for start in range(0, n, self.batch_size):
            idx = order[start:start + self.batch_size]
            xb = yb = None
            if self.reuse:
                xb, yb = self._buffer(len(idx))
            xb = gather_batch(self.x, idx, xb, self.scale, self.offset)
            if self.y is not None:
                yb = np.take(self.y, idx, axis=0, out=yb)
            yield xb, yb

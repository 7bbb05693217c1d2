# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, cdivision=True
"""GIL-free batch gather for the training loop: out[b] = src[indices[b]] * scale + offset.

Arrays come in through the buffer protocol as flat typed memoryviews (no numpy
headers are needed), so any C-contiguous (N, ...) array works. Every argument
is checked, and every index bounds-checked, before anything is written; the
loops themselves run without the GIL and without checks.
"""

import sys
from libc.stdint cimport int64_t, uint8_t

ctypedef fused pixel_t:
    uint8_t
    float


cdef Py_ssize_t _first_bad(const int64_t[::1] idx, int64_t n) noexcept nogil:
    """Position of the first index outside [0, n), or -1."""
    cdef Py_ssize_t i
    for i in range(idx.shape[0]):
        if idx[i] < 0 or idx[i] >= n:
            return i
    return -1


cdef void _gather(const pixel_t[::1] src, const int64_t[::1] idx, float[::1] out,
                  Py_ssize_t d, float scale, float offset) noexcept nogil:
    cdef Py_ssize_t b, j
    cdef const pixel_t* s
    cdef float* o
    if d == 0:
        return
    for b in range(idx.shape[0]):
        s = &src[<Py_ssize_t>idx[b] * d]
        o = &out[b * d]
        for j in range(d):
            o[j] = <float>s[j] * scale + offset


cdef bint _overlap(const uint8_t[::1] a, const uint8_t[::1] b) noexcept:
    """Whether two byte buffers share memory (an in-place gather would read
    samples it has already overwritten)."""
    if a.shape[0] == 0 or b.shape[0] == 0:
        return False
    return &a[0] < &b[0] + b.shape[0] and &b[0] < &a[0] + a.shape[0]


def _sample_size(shape):
    size = 1
    for extent in shape[1:]:
        size *= extent
    return size


def _flat(array, name, writable):
    """A 1-D byte view of a C-contiguous buffer, plus its format and shape."""
    try:
        view = memoryview(array)
    except TypeError:
        raise TypeError(
            f"{name} must be an array supporting the buffer protocol, received "
            f"{type(array).__name__}") from None
    if view.ndim < 1:
        raise ValueError(f"{name} must have at least one dimension, received a scalar")
    if not view.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous")
    if writable and view.readonly:
        raise ValueError(f"{name} must be writable")
    return view.cast("B"), _native_format(view.format), tuple(view.shape)


def _native_format(fmt):
    """The struct format without a prefix that only restates native order:
    arrays that came through Dask's serialization report '=f', not 'f'."""
    if len(fmt) == 2 and fmt[0] in "@=" + ("<" if sys.byteorder == "little" else ">"):
        return fmt[1]
    return fmt


def gather(src, indices, out, double scale=1.0, double offset=0.0):
    """out[b] = src[indices[b]] * scale + offset, as float32.

    src: C-contiguous (N, ...) uint8 or float32. indices: C-contiguous int64 (B,).
    out: C-contiguous, writable float32 (B, ...) with the same per-sample size as
    src. Raises IndexError (and leaves `out` untouched) if any index is outside
    [0, N).
    """
    src_bytes, src_format, src_shape = _flat(src, "src", False)
    out_bytes, out_format, out_shape = _flat(out, "out", True)
    if src_format not in ("B", "f"):
        raise TypeError(f"src must be uint8 or float32, received buffer format {src_format!r}")
    if out_format != "f":
        raise TypeError(f"out must be float32, received buffer format {out_format!r}")

    cdef const int64_t[::1] idx
    try:
        idx = indices
    except (ValueError, TypeError, BufferError) as exc:
        raise TypeError(f"indices must be a 1-D C-contiguous int64 array ({exc})") from None

    cdef Py_ssize_t n = src_shape[0]
    cdef Py_ssize_t batch = idx.shape[0]
    cdef Py_ssize_t d = _sample_size(src_shape)
    if out_shape[0] != batch:
        raise ValueError(
            f"out must have one row per index: expected {batch} rows, received {out_shape[0]}")
    if _sample_size(out_shape) != d:
        raise ValueError(
            f"out must hold samples of the same size as src: expected {d} values per "
            f"sample (src shape {src_shape}), received {_sample_size(out_shape)} "
            f"(out shape {out_shape})")

    if _overlap(src_bytes, out_bytes):
        raise ValueError("out must not share memory with src")

    cdef Py_ssize_t bad
    with nogil:
        bad = _first_bad(idx, n)
    if bad >= 0:
        raise IndexError(
            f"index {idx[bad]} (at position {bad}) is out of bounds for src with {n} "
            f"samples: expected 0 <= index < {n}")

    cdef const uint8_t[::1] s8
    cdef const float[::1] s32
    cdef float[::1] o = out_bytes.cast("f")
    cdef float fscale = <float>scale
    cdef float foffset = <float>offset
    if src_format == "B":
        s8 = src_bytes
        with nogil:
            _gather(s8, idx, o, d, fscale, foffset)
    else:
        s32 = src_bytes.cast("f")
        with nogil:
            _gather(s32, idx, o, d, fscale, foffset)
    return out

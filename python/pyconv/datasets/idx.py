"""Read and write IDX files, the format of MNIST and Fashion-MNIST.

Layout: two zero bytes, a dtype code, the number of dimensions, one big-endian
uint32 per dimension, then the values, big-endian, in C order. The reader
checks every field before trusting it and never reads past what the header
promises, so a corrupt or hostile file gives an IDXFormatError, never a crash
or a huge allocation.
"""

import gzip
import os
import struct
import tempfile
import zlib

import numpy as np

__all__ = ["IDXFormatError", "read_idx", "write_idx"]

# IDX dtype code -> big-endian numpy dtype, as in the format's description.
_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dtype.newbyteorder("="): code for code, dtype in _DTYPES.items()}
_MAX_NDIM = 4
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


class IDXFormatError(ValueError):
    """An IDX file is malformed: bad magic, bad dimensions, wrong payload size."""


def _dtype_names():
    return ", ".join(str(d.newbyteorder("=")) for d in _DTYPES.values())


def _read_up_to(stream, size):
    """Reads at most `size` bytes, in chunks, so memory follows the real data
    and not a size claimed by a corrupt header."""
    buf = bytearray()
    while len(buf) < size:
        chunk = stream.read(min(_CHUNK, size - len(buf)))
        if not chunk:
            break
        buf += chunk
    return buf


def _parse(stream, path):
    header = _read_up_to(stream, 4)
    if len(header) != 4:
        raise IDXFormatError(
            f"{path}: expected a 4-byte IDX header, found only {len(header)} bytes"
        )
    zero0, zero1, code, ndim = header
    if zero0 != 0 or zero1 != 0:
        raise IDXFormatError(
            f"{path}: expected an IDX magic number starting with two zero bytes, "
            f"found 0x{bytes(header).hex()} (not an IDX file)"
        )
    if code not in _DTYPES:
        raise IDXFormatError(
            f"{path}: expected an IDX dtype code in "
            f"{{{', '.join(f'0x{c:02X}' for c in _DTYPES)}}}, found 0x{code:02X}"
        )
    if not 1 <= ndim <= _MAX_NDIM:
        raise IDXFormatError(
            f"{path}: expected 1 to {_MAX_NDIM} dimensions in the IDX header, found {ndim}"
        )
    raw_dims = _read_up_to(stream, 4 * ndim)
    if len(raw_dims) != 4 * ndim:
        raise IDXFormatError(
            f"{path}: expected {4 * ndim} bytes of dimension sizes after the magic "
            f"number, found {len(raw_dims)}"
        )
    dims = struct.unpack(f">{ndim}I", raw_dims)
    dtype = _DTYPES[code]
    expected = dtype.itemsize
    for d in dims:
        expected *= d  # Python ints: no overflow, whatever the header says.

    payload = _read_up_to(stream, expected)
    if len(payload) != expected:
        shape = " x ".join(map(str, dims))
        raise IDXFormatError(
            f"{path}: expected {expected} bytes of data after the header "
            f"({shape} values of {dtype.newbyteorder('=')}), found {len(payload)}"
        )
    if stream.read(1):
        raise IDXFormatError(
            f"{path}: expected the file to end after {expected} bytes of data, "
            f"found trailing bytes"
        )
    array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    return array.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path):
    """Reads an IDX file, raw or gzip-compressed, into a native-endian numpy array.

    Compression is detected from the first two bytes (1f 8b), not from the name.
    Raises IDXFormatError (a ValueError) if the file is not a valid IDX file, and
    OSError if it cannot be opened.
    """
    path = os.fspath(path)
    with open(path, "rb") as raw:
        compressed = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not compressed:
            return _parse(raw, path)
        try:
            with gzip.GzipFile(fileobj=raw, mode="rb") as stream:
                return _parse(stream, path)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise IDXFormatError(
                f"{path}: expected a valid gzip stream, found a corrupt or truncated "
                f"one ({exc})"
            ) from exc


def write_idx(path, array):
    """Writes `array` as a raw (uncompressed) IDX file.

    Writes to a temporary file in the same directory and renames it into place,
    so readers never see a half-written file.
    """
    array = np.asarray(array)
    native = array.dtype.newbyteorder("=")
    if native not in _CODES:
        raise TypeError(
            f"write_idx supports dtypes {_dtype_names()}; received {array.dtype}"
        )
    if not 1 <= array.ndim <= _MAX_NDIM:
        raise ValueError(
            f"write_idx expects an array with 1 to {_MAX_NDIM} dimensions, "
            f"received shape {array.shape}"
        )
    if any(d >= 2**32 for d in array.shape):
        raise ValueError(
            f"IDX dimensions must be below 2**32, received shape {array.shape}"
        )
    code = _CODES[native]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = np.ascontiguousarray(array, dtype=_DTYPES[code]).tobytes()

    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(
        dir=os.path.dirname(os.path.abspath(path)),
        prefix="." + os.path.basename(path) + ".",
        suffix=".tmp",
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(header)
            f.write(payload)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise

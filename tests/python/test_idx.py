"""IDX reader/writer: round trips for every dtype, raw and gzip, and every way a
file can be broken (each must give IDXFormatError saying what was expected)."""

import gzip
import os
import struct

import numpy as np
import pytest

from pyconv.datasets import idx
from pyconv.datasets.idx import IDXFormatError, read_idx, write_idx

DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64]


def _gzip_file(path):
    """Compresses `path` to `path.gz` and returns the new path."""
    gz = str(path) + ".gz"
    with open(path, "rb") as f:
        data = f.read()
    with open(gz, "wb") as f:
        f.write(gzip.compress(data))
    return gz


def _write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return str(path)


def _header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(tmp_path, dtype, compress):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    path = tmp_path / "a.idx"
    write_idx(path, a)
    if compress:
        path = _gzip_file(path)
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype)
    assert b.dtype.isnative
    assert b.shape == a.shape
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("shape", [(7,), (2, 3), (2, 3, 4), (1, 2, 3, 4), (0, 28, 28)])
def test_round_trip_shapes(tmp_path, shape):
    a = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    write_idx(tmp_path / "a", a)
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), a)


def test_big_endian_on_disk(tmp_path):
    write_idx(tmp_path / "a", np.array([1, 258], dtype=np.int32))
    with open(tmp_path / "a", "rb") as f:
        data = f.read()
    assert data == _header(0x0C, (2,)) + b"\0\0\0\x01\0\0\x01\x02"


def test_gzip_detected_by_content_not_name(tmp_path):
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    write_idx(tmp_path / "raw", a)
    gz = _gzip_file(tmp_path / "raw")
    os.replace(gz, tmp_path / "no-extension")
    with open(tmp_path / "raw", "rb") as f:
        _write_bytes(tmp_path / "raw-named.gz", f.read())
    np.testing.assert_array_equal(read_idx(tmp_path / "no-extension"), a)
    np.testing.assert_array_equal(read_idx(tmp_path / "raw-named.gz"), a)


def test_result_is_writable(tmp_path):
    write_idx(tmp_path / "a", np.zeros((2, 2), np.uint8))
    b = read_idx(tmp_path / "a")
    b[0, 0] = 1


def test_write_leaves_no_temporary_files(tmp_path):
    write_idx(tmp_path / "a", np.zeros(3, np.uint8))
    write_idx(tmp_path / "a", np.ones(4, np.uint8))  # overwrite in place
    assert os.listdir(tmp_path) == ["a"]
    np.testing.assert_array_equal(read_idx(tmp_path / "a"), np.ones(4, np.uint8))


@pytest.mark.parametrize("bad", [np.zeros(3, np.int64), np.zeros(3, bool), np.zeros(3, np.float16)])
def test_write_rejects_unsupported_dtype(tmp_path, bad):
    with pytest.raises(TypeError, match="supports dtypes"):
        write_idx(tmp_path / "a", bad)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("shape", [(), (1, 1, 1, 1, 1)])
def test_write_rejects_bad_ndim(tmp_path, shape):
    with pytest.raises(ValueError, match="1 to 4 dimensions"):
        write_idx(tmp_path / "a", np.zeros(shape, np.uint8))


GOOD = _header(0x08, (2, 3)) + bytes(range(6))

BROKEN = {
    "empty file": b"",
    "short header": b"\0\0\x08",
    "bad magic": b"\x01\x02" + GOOD[2:],
    "bad dtype code": b"\0\0\x0a\x02" + GOOD[4:],
    "zero ndim": b"\0\0\x08\x00" + GOOD[4:],
    "ndim too large": b"\0\0\x08\x05" + GOOD[4:],
    "truncated dims": GOOD[:6],
    "truncated data": GOOD[:-1],
    "trailing data": GOOD + b"\0",
    "huge dims": _header(0x08, (2**32 - 1, 2**32 - 1, 2**32 - 1)) + b"\0" * 10,
}


@pytest.mark.parametrize("name", sorted(BROKEN))
@pytest.mark.parametrize("compress", [False, True])
def test_broken_files(tmp_path, name, compress):
    path = _write_bytes(tmp_path / "f", BROKEN[name])
    if compress:
        path = _gzip_file(path)
    with pytest.raises(IDXFormatError, match="expected") as info:
        read_idx(path)
    assert path in str(info.value)
    assert isinstance(info.value, ValueError)


def test_truncated_data_message_gives_sizes(tmp_path):
    data = _header(0x08, (10000, 28, 28)) + b"\0" * 1234
    path = _write_bytes(tmp_path / "images", data)
    with pytest.raises(IDXFormatError, match="expected 7840000 bytes of data after the header.*found 1234"):
        read_idx(path)


def test_multibyte_payload_must_be_whole(tmp_path):
    path = _write_bytes(tmp_path / "f", _header(0x0D, (2,)) + b"\0" * 7)
    with pytest.raises(IDXFormatError, match="expected 8 bytes"):
        read_idx(path)


@pytest.mark.parametrize("corrupt", ["truncated", "flipped", "bad crc", "not deflate"])
def test_corrupt_gzip(tmp_path, corrupt):
    payload = gzip.compress(_header(0x08, (64, 64)) + os.urandom(64 * 64))
    if corrupt == "truncated":
        payload = payload[: len(payload) // 2]
    elif corrupt == "flipped":
        payload = payload[:20] + bytes(b ^ 0xFF for b in payload[20:60]) + payload[60:]
    elif corrupt == "bad crc":
        payload = payload[:-8] + bytes(b ^ 0xFF for b in payload[-8:-4]) + payload[-4:]
    else:
        payload = payload[:10] + b"\xff" * (len(payload) - 10)
    path = _write_bytes(tmp_path / "f.gz", payload)
    with pytest.raises(IDXFormatError, match="expected"):
        read_idx(path)


def test_only_gzip_magic(tmp_path):
    path = _write_bytes(tmp_path / "f.gz", b"\x1f\x8b")
    with pytest.raises(IDXFormatError, match="expected"):
        read_idx(path)


def test_missing_file_is_oserror(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope")


def test_dtype_table_matches_spec():
    assert {code: str(d) for code, d in idx._DTYPES.items()} == {
        0x08: "uint8", 0x09: "int8", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8",
    }

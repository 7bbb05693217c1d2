"""TensorBoard's event files, written (and read back) without TensorFlow: a
TFRecord stream of Event protocol buffers, each scalar a Summary value.

A record: the payload's length (uint64, little-endian), the masked CRC-32C of
those 8 bytes, the payload, its masked CRC-32C. The few protobuf fields used
are encoded by hand (tensorflow/core/util/event.proto, summary.proto)."""

import itertools
import os
import socket
import struct
import time


def _crc32c_table():
    table = []
    for n in range(256):
        c = n
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_TABLE = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for byte in data:
        c = _TABLE[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def _masked(crc):
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n):
    out = bytearray()
    while True:
        bits, n = n & 0x7F, n >> 7
        out.append(bits | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number, wire_type, payload):
    return _varint(number << 3 | wire_type) + payload


def _length_delimited(number, data):
    return _field(number, 2, _varint(len(data)) + data)


def _event(step, wall_time, file_version=None, scalars=()):
    body = _field(1, 1, struct.pack("<d", wall_time)) + _field(2, 0, _varint(step))
    if file_version is not None:
        body += _length_delimited(3, file_version.encode())
    if scalars:
        values = b"".join(_length_delimited(1, _length_delimited(1, tag.encode()) +
                                            _field(2, 5, struct.pack("<f", value)))
                          for tag, value in scalars)
        body += _length_delimited(5, values)
    return body


_writers = itertools.count()  # this process's writers, numbered as TensorFlow numbers them


class EventFileWriter:
    """Appends scalar events to a new event file in `folder`."""

    def __init__(self, folder):
        os.makedirs(folder, exist_ok=True)
        # Two writers within a second (two fits into one log_dir) would get
        # one name: a number apart, and never an existing file overwritten.
        stem = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}"
        for uid in itertools.count(next(_writers)):
            self.path = os.path.join(folder, f"{stem}.{uid}.v2")
            try:
                self._file = open(self.path, "xb")
                break
            except FileExistsError:
                continue
        self._write(_event(0, time.time(), file_version="brain.Event:2"))

    def _write(self, payload):
        header = struct.pack("<Q", len(payload))
        self._file.write(header + struct.pack("<I", _masked(crc32c(header))) + payload +
                         struct.pack("<I", _masked(crc32c(payload))))

    def scalars(self, step, values):
        """Writes {tag: value} at a step."""
        self._write(_event(int(step), time.time(), scalars=[(k, float(v)) for k, v in values.items()]))
        self._file.flush()

    def close(self):
        self._file.close()


def _fields(data):
    """(field number, wire type, value) of a protobuf message's fields."""
    i = 0
    while i < len(data):
        key, i = _read_varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _read_varint(data, i)
        elif wire == 1:
            value, i = data[i:i + 8], i + 8
        elif wire == 5:
            value, i = data[i:i + 4], i + 4
        elif wire == 2:
            n, i = _read_varint(data, i)
            value, i = data[i:i + n], i + n
        else:
            raise ValueError(f"unexpected protobuf wire type {wire}")
        yield number, wire, value


def _read_varint(data, i):
    n = shift = 0
    while True:
        byte = data[i]
        i += 1
        n |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return n, i


def read_scalars(path):
    """[(step, tag, value)] of an event file's scalars, each record's CRCs
    checked (a reader for tests and for users without TensorBoard)."""
    out = []
    with open(path, "rb") as f:
        data = f.read()
    i = 0
    while i < len(data):
        header = data[i:i + 8]
        (length,) = struct.unpack("<Q", header)
        (crc,) = struct.unpack("<I", data[i + 8:i + 12])
        payload = data[i + 12:i + 12 + length]
        (payload_crc,) = struct.unpack("<I", data[i + 12 + length:i + 16 + length])
        if crc != _masked(crc32c(header)) or payload_crc != _masked(crc32c(payload)):
            raise ValueError(f"{path}: a record's checksum does not match")
        i += 16 + length
        step = 0
        for number, _, value in _fields(payload):
            if number == 2:
                step = value
            elif number == 5:
                for _, _, v in _fields(value):
                    tag, scalar = None, None
                    for n, _, x in _fields(v):
                        if n == 1:
                            tag = x.decode()
                        elif n == 2:
                            (scalar,) = struct.unpack("<f", x)
                    out.append((step, tag, scalar))
    return out

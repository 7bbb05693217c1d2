"""Changes a saved model's bytes as a tool that edits .pcv files would: the
file's CRC-32C made right again, so only the checks past it can refuse it."""

import struct


def _crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    c = 0xFFFFFFFF
    for byte in data:
        c = table[(c ^ byte) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def replaced(data, old, new):
    """data with its one occurrence of `old` replaced by `new` (as long), the
    checksum (the file's last 4 bytes) recomputed."""
    assert len(old) == len(new) and data.count(old) == 1, old
    out = bytearray(data.replace(old, new))
    out[-4:] = struct.pack("<I", _crc32c(bytes(out[:-4])))
    return bytes(out)

"""Changes a saved model's bytes as a tool that edits .pcv files would: the
file's CRC-32C made right again, so only the checks past it can refuse it."""

import struct

from pyconv.callbacks.event_file import crc32c  # the same CRC-32C (Castagnoli)


def replaced(data, old, new):
    """data with its one occurrence of `old` replaced by `new` (as long), the
    checksum (the file's last 4 bytes) recomputed."""
    assert len(old) == len(new) and data.count(old) == 1, old
    out = bytearray(data.replace(old, new))
    out[-4:] = struct.pack("<I", crc32c(bytes(out[:-4])))
    return bytes(out)

"""tests/data/kernel_cases.txt: the shapes the kernel tests run every kernel
table on, one case a line, shared with tests/cpp/test_kernel_isas.cpp (which
runs without Python, under qemu-aarch64 for the NEON table)."""

from pathlib import Path

PATH = Path(__file__).parents[1] / "data" / "kernel_cases.txt"


def _value(text):
    """A spec value as capi/layer_spec.h reads it: true/false, a comma list of
    integers, an integer, a number or a word."""
    if text in ("true", "false"):
        return text == "true"
    if "," in text:
        return [int(v) for v in text.split(",")]
    try:
        return int(text)
    except ValueError:
        return float(text) if text[0] in "0123456789+-." else text


def parse_spec(text):
    """'Conv2D filters=8 kernel_size=3,3' -> {'type': 'Conv2D', 'filters': 8, 'kernel_size': [3, 3]}."""
    kind, *pairs = text.split()
    return {"type": kind, **{k: _value(v) for k, v in (p.split("=", 1) for p in pairs)}}


def _rows(section):
    with open(PATH) as f:
        rows = [fields[1:] for fields in (line.split("#")[0].split() for line in f)
                if fields and fields[0] == section]
    assert rows, f"{PATH} holds no '{section}' cases"
    return rows


def layers(section):
    """[(input shape without the batch axis, config dict)], one per line."""
    return [(tuple(int(v) for v in shape.split(",")), parse_spec(" ".join(spec)))
            for shape, *spec in _rows(section)]


def numbers(section):
    """[[int, ...]], one list per line."""
    return [[int(v) for v in row] for row in _rows(section)]


def words(section):
    """The words of a section's one line."""
    (row,) = _rows(section)
    return row

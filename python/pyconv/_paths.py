"""Where the installed C/C++ package lives inside the Python package.

A wheel ships ``include/`` (the C and C++ headers), ``lib/`` (libpyconv) and
``share/cmake/pyconv/`` (pyconvConfig.cmake) under ``pyconv/``, so a C or C++
project can build against the same core that Python uses::

    cmake -S . -B build -Dpyconv_DIR="$(python -m pyconv --cmake-dir)"
"""

from __future__ import annotations

from pathlib import Path

_ROOT = Path(__file__).resolve().parent


def _existing(path: Path, what: str) -> str:
    if not path.is_dir():
        raise FileNotFoundError(
            f"pyconv's {what} is not installed at {path}; it comes with the wheel "
            "(pip install .), not with an editable or source-tree import"
        )
    return str(path)


def get_include() -> str:
    """The folder holding ``pyconv/pyconv.h``, for ``-I``."""
    return _existing(_ROOT / "include", "include folder")


def get_cmake_dir() -> str:
    """The folder holding ``pyconvConfig.cmake``, for ``-Dpyconv_DIR=``."""
    return _existing(_ROOT / "share" / "cmake" / "pyconv", "CMake package")

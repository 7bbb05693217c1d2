"""Where the installed C/C++ package lives inside the Python package.

A wheel ships ``include/`` (the C and C++ headers), ``lib/`` (libpyconv) and
``share/cmake/pyconv/`` (pyconvConfig.cmake) under ``pyconv/``, so a C or C++
project can build against the same core that Python uses::

    cmake -S . -B build -Dpyconv_DIR="$(python -m pyconv --cmake-dir)"
"""

from __future__ import annotations

from pathlib import Path

import pyconv


def _installed(relative: str, what: str) -> str:
    # The package's __path__: its folder, plus the build's install folder in
    # an editable install (the headers and CMake files live there).
    places = [Path(p) / relative for p in pyconv.__path__]
    for place in places:
        if place.is_dir():
            return str(place)
    raise FileNotFoundError(
        f"pyconv's {what} is not installed (looked in {', '.join(map(str, places))}); "
        "it comes with the wheel: pip install ."
    )


def get_include() -> str:
    """The folder holding ``pyconv/pyconv.h``, for ``-I``."""
    return _installed("include", "include folder")


def get_cmake_dir() -> str:
    """The folder holding ``pyconvConfig.cmake``, for ``-Dpyconv_DIR=``."""
    return _installed("share/cmake/pyconv", "CMake package")


def get_micro_dir() -> str:
    """The folder holding the micro runtime's sources (pcvm.h, pcvm.cpp)."""
    return _installed("micro", "micro runtime")

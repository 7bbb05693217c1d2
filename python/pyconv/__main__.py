"""``python -m pyconv``: paths of the bundled C/C++ package, for build scripts.

    python -m pyconv --cmake-dir     # folder of pyconvConfig.cmake
    python -m pyconv --include-dir   # folder holding pyconv/pyconv.h
"""

from __future__ import annotations

import argparse
import sys

from ._paths import get_cmake_dir, get_include


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pyconv", description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--cmake-dir", action="store_true", help="print the CMake package folder")
    group.add_argument("--include-dir", action="store_true", help="print the include folder")
    group.add_argument("--version", action="store_true", help="print the version")
    args = parser.parse_args(argv)
    try:
        if args.cmake_dir:
            print(get_cmake_dir())
        elif args.include_dir:
            print(get_include())
        else:
            from . import __version__

            print(__version__)
    except FileNotFoundError as e:
        print(f"python -m pyconv: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

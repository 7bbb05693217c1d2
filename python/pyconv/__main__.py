"""``python -m pyconv``: paths of the bundled C/C++ package, for build scripts,
and a model's export to a microcontroller.

    python -m pyconv --cmake-dir     # folder of pyconvConfig.cmake
    python -m pyconv --include-dir   # folder holding pyconv/pyconv.h
    python -m pyconv export-c MODEL.pcv -o DIR [--samples X.npy]   # C++ sources
"""

from __future__ import annotations

import argparse
import sys

from ._paths import get_cmake_dir, get_include


def export_c_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m pyconv export-c",
        description="Write a model (.pcv; quantized or float) as C++ sources for the micro "
                    "runtime, with the given samples, into a folder.")
    parser.add_argument("model", help="the .pcv model file")
    parser.add_argument("-o", "--output", required=True, help="folder to write into")
    parser.add_argument("--samples", help=".npy file of float32 inputs, shaped like the model's")
    args = parser.parse_args(argv)
    from .export_c import export_c

    try:
        ops, samples = export_c(args.model, args.output, args.samples)
    except (OSError, ValueError) as e:
        print(f"python -m pyconv export-c: {e}", file=sys.stderr)
        return 1
    print(f"wrote {args.output}: {ops} ops, {samples} samples")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["export-c"]:
        return export_c_main(argv[1:])
    parser = argparse.ArgumentParser(
        prog="python -m pyconv",
        description="Paths of the bundled C/C++ package, for build scripts, and a model's "
                    "export to a microcontroller.",
        epilog="python -m pyconv export-c MODEL.pcv -o DIR [--samples X.npy]: a model as C++ "
               "sources for the micro runtime (export-c --help for more)")
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

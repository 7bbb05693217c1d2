"""Thread count and build information."""

import numbers

from . import _core


def set_num_threads(n):
    """Use `n` threads in every kernel; 0 restores the default.

    The default: PYCONV_NUM_THREADS or OMP_NUM_THREADS when set (Dask's and
    Ray's workers set the latter), else the cores this process may use (its
    CPU affinity mask, capped by a container's cgroup CPU quota);
    show_config() says which. A process forked from one that used pyconv
    starts with 1 (several forked workers each taking every core would only
    fight over them). More than 4x the cores this process may use are capped
    there (thousands of OS threads only thrash); get_num_threads() returns
    the value in effect. It is an upper bound: inference calls under 1 ms run
    on the calling thread alone while that is faster (each context times its
    calls); their results do not depend on it."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an integer, received {type(n).__name__}")
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be 0 (the default) or a positive number of threads, "
                         f"received {n}")
    _core.set_num_threads(min(n, _core.max_threads()))


def get_num_threads():
    return _core.get_num_threads()


def kernel_isa():
    """The instruction set of the kernels in use: 'avx2', 'neon' (AArch64) or 'ref'."""
    return _core.kernel_isa()


def show_config(print_fn=print):
    """Print (and return) the version, kernel ISA, thread count and where it came from.

    The ISA is picked once from the CPU; set PYCONV_ISA=ref (or another
    available ISA) before importing to override it."""
    info = {
        "version": _core.__version__,
        "isa": _core.kernel_isa(),
        "available_isas": _core.available_isas(),
        "int8_kernels": _core.int8_kernel_isa(),
        "threads": _core.get_num_threads(),
        "threads_default_from": _core.default_threads_source(),
        "cuda": False,
    }
    if _core.isa_override_note():
        info["note"] = _core.isa_override_note()
    for key, value in info.items():
        print_fn(f"{key}: {value}")
    return info

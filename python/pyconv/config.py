"""Thread count and build information."""

from . import _core


def set_num_threads(n):
    """Use `n` threads in every kernel (n <= 0 restores the default: all cores)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"n must be an integer, received {type(n).__name__}")
    _core.set_num_threads(n)


def get_num_threads():
    return _core.get_num_threads()


def show_config(print_fn=print):
    """Print (and return) the version, thread count and OpenMP availability."""
    info = {
        "version": _core.__version__,
        "threads": _core.get_num_threads(),
        "openmp": _core.have_openmp(),
    }
    for key, value in info.items():
        print_fn(f"{key}: {value}")
    return info

"""Timing helpers shared by every benchmark: thread setup for each framework,
optional imports (PyTorch, ONNX Runtime), a warm-up + median timer, and the
few number formats the tables use.

Import order matters for the threads: `thread_env(n)` must run before NumPy
(and so OpenBLAS) is first imported, which is why run.py calls it first.
"""

import gc
import math
import os
import statistics
import time
from dataclasses import dataclass, field

TORCH_INSTALL = "PyTorch not installed: pip install torch==2.13.0"
ORT_INSTALL = "ONNX Runtime not installed: pip install onnxruntime onnx"

_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


# ----- threads -------------------------------------------------------------------

def thread_env(n):
    """Sets the thread-count environment variables that BLAS and OpenMP read at
    load time. Call before importing numpy, torch or pyconv."""
    for var in _THREAD_VARS:
        os.environ[var] = str(n)


def apply_threads(n, torch=None):
    """Sets n threads at run time in pyconv and PyTorch (ONNX Runtime takes its
    count per session: see ort_session). Returns what each one reports."""
    import pyconv
    pyconv.set_num_threads(n)
    info = {"pyconv": pyconv.get_num_threads()}
    if torch is not None:
        torch.set_num_threads(n)
        try:
            torch.set_num_interop_threads(1)  # only allowed before any parallel work
        except RuntimeError:
            pass
        info["torch"] = torch.get_num_threads()
    try:  # optional: pins NumPy's BLAS even if it was loaded before thread_env()
        import threadpoolctl
        threadpoolctl.threadpool_limits(n)
    except ImportError:
        pass
    info["numpy BLAS"] = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    return info


# ----- optional frameworks ---------------------------------------------------------

def load_torch():
    """(torch module or None, a line saying what happened)."""
    try:
        import torch
    except ImportError:
        return None, TORCH_INSTALL
    return torch, f"PyTorch {torch.__version__}"


def load_ort():
    """(onnxruntime module or None, a line saying what happened). The export
    from PyTorch also needs the onnx package."""
    try:
        import onnxruntime
        import onnx  # noqa: F401  (torch.onnx.export needs it)
    except ImportError:
        return None, ORT_INSTALL
    onnxruntime.set_default_logger_severity(3)  # errors only
    return onnxruntime, f"ONNX Runtime {onnxruntime.__version__}"


def ort_session(ort, path, threads):
    """A CPU ONNX Runtime session using `threads` intra-op threads."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


# ----- repeat counts ---------------------------------------------------------------

@dataclass
class Settings:
    threads: int = 2
    warmup: int = 3          # untimed calls before timing
    repeats: int = 10        # timed repeats; every number reported is their median
    min_repeat_s: float = 0.05  # short calls are looped until one repeat lasts this long
    train_warmup: int = 5    # untimed training steps
    train_steps: int = 50    # timed training steps

    @classmethod
    def make(cls, quick, threads):
        if quick:
            return cls(threads=threads, warmup=1, repeats=3, min_repeat_s=0.02,
                       train_warmup=3, train_steps=15)
        return cls(threads=threads)


# ----- the timer -------------------------------------------------------------------

@dataclass
class Measurement:
    times: list = field(default_factory=list)  # seconds per call, one per repeat
    number: int = 1                            # calls per repeat

    @property
    def median(self):
        return statistics.median(self.times)

    @property
    def spread(self):
        """(max - min) / median over the repeats: how noisy the numbers were."""
        return (max(self.times) - min(self.times)) / self.median if self.median > 0 else 0.0


def measure(fn, settings, setup=None, warmup=None, repeats=None, loop=True):
    """Times fn(): `warmup` untimed calls, then `repeats` timed repeats and their
    median. With loop=True (and no setup), a repeat calls fn enough times to last
    settings.min_repeat_s, so that microsecond calls are timed reliably; the time
    per call is the repeat's time divided by the count. `setup()` (e.g. clearing
    gradients) runs before every call, untimed. The garbage collector is off while
    timing, as in timeit."""
    warmup = settings.warmup if warmup is None else warmup
    repeats = settings.repeats if repeats is None else repeats
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(max(warmup, 1 if loop else 0)):
            if setup:
                setup()
            fn()
        number = 1
        if loop and setup is None:
            t0 = time.perf_counter()
            fn()
            once = time.perf_counter() - t0
            number = max(1, min(100000, math.ceil(settings.min_repeat_s / max(once, 1e-7))))
        result = Measurement(number=number)
        for _ in range(repeats):
            if setup:
                setup()
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            result.times.append((time.perf_counter() - t0) / number)
        return result
    finally:
        if was_enabled:
            gc.enable()


# ----- formats ---------------------------------------------------------------------

def ms(seconds):
    return "-" if seconds is None else f"{seconds * 1e3:.2f}"


def us(seconds):
    return "-" if seconds is None else f"{seconds * 1e6:.0f}"


def ratio(mine, other):
    """pyconv time / other time, as text: < 1 means pyconv is faster."""
    if mine is None or other is None or other <= 0:
        return "-"
    return f"{mine / other:.2f}x"


def gflops(flops, seconds):
    return "-" if seconds is None or seconds <= 0 else f"{flops / seconds / 1e9:.1f}"


def verdict(ok):
    return "n/a" if ok is None else ("PASS" if ok else "MISS")

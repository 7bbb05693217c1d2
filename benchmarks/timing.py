"""Timing helpers shared by every benchmark: thread setup for each framework,
optional imports (PyTorch, ONNX Runtime), a warm-up + median timer, and the
few number formats the tables use.

Import order matters for the threads: `thread_env(n)` must run before NumPy
(and so OpenBLAS) is first imported, which is why run.py calls it first.
"""

import gc
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


def standalone(doc, add_arguments=None):
    """The command line of a benchmark script run on its own: --quick and
    --threads (and whatever add_arguments(parser) adds). Applies the threads,
    prints them and PyTorch's version, and returns (args, Settings, torch
    module or None)."""
    import argparse

    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    if add_arguments is not None:
        add_arguments(parser)
    args = parser.parse_args()
    torch, torch_note = load_torch()
    print("threads:", apply_threads(args.threads, torch), "|", torch_note)
    return args, Settings.make(args.quick, args.threads), torch


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


# ----- how busy the machine was ---------------------------------------------------

class BusyMeter:
    """How many cores processes other than this one kept busy (on average) since
    the meter started, from /proc/stat (Linux; elsewhere `other_cores()` is
    None). Steal time counts as busy: a hypervisor's other guests slow us too.
    On a shared machine this says whether a section's numbers can be trusted."""

    def __init__(self):
        self._start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                values = [int(v) for v in f.readline().split()[1:9]]
        except (OSError, ValueError):
            return None
        busy = sum(values) - values[3] - values[4]  # all but idle and iowait
        own = os.times()
        return busy / os.sysconf("SC_CLK_TCK"), own.user + own.system, time.monotonic()

    def other_cores(self):
        end = self._read()
        if self._start is None or end is None or end[2] - self._start[2] < 0.5:
            return None
        busy, own, wall = (e - s for e, s in zip(end, self._start))
        return max(0.0, (busy - own) / wall)


# ----- repeat counts ---------------------------------------------------------------

@dataclass
class Settings:
    threads: int = 2
    warmup: int = 3          # untimed calls before timing, at least...
    warmup_s: float = 0.2    # ...and at least this long (lets other pools' threads go idle)
    repeats: int = 15        # timed calls, at least...
    min_time_s: float = 1.0  # ...and about this much time (short calls: many)
    rounds: int = 5          # implementations being compared take turns this many times
    train_warmup: int = 5    # untimed training steps
    train_steps: int = 50    # timed training steps

    @classmethod
    def make(cls, quick, threads):
        if quick:
            return cls(threads=threads, warmup=1, warmup_s=0.1, repeats=3, min_time_s=0.2,
                       rounds=3, train_warmup=3, train_steps=15)
        return cls(threads=threads)


# ----- the timer -------------------------------------------------------------------

MAX_CALLS = 20000


@dataclass
class Measurement:
    times: list = field(default_factory=list)  # seconds, one per timed call

    @property
    def median(self):
        return statistics.median(self.times)


class External:
    """A case that times itself in another process (the C API program):
    `next_round()` returns the times (seconds) of its share of one round.
    It warms up on its own, before its first round."""

    def next_round(self):
        raise NotImplementedError


def rounds_of(settings):
    return max(1, min(settings.rounds, settings.repeats))


def compare(cases, settings):
    """Times several implementations of the same work, interleaved, and returns
    {name: Measurement} (use .median). `cases` maps a name to fn or (fn, setup);
    `setup()` (e.g. clearing gradients) runs untimed before every call; a
    case may also be an External, which times its own calls in each round.

    Each case first warms up: at least settings.warmup untimed calls lasting at
    least settings.warmup_s. Then the cases take turns over settings.rounds
    rounds (the order reversed every other round), each timing its share of at
    least settings.repeats calls, more for short calls until about
    settings.min_time_s is spent (at most MAX_CALLS). Every call is timed on its
    own and the median is reported: on a shared machine a preempted call is an
    outlier the median ignores, and taking turns gives every implementation the
    same share of quiet and busy moments. The garbage collector is off while
    timing, as in timeit."""
    clock = time.perf_counter
    cases = {name: c if isinstance(c, tuple) else (c, None) for name, c in cases.items()}
    rounds = rounds_of(settings)
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        per_round = {}
        for name, (fn, setup) in cases.items():
            if isinstance(fn, External):
                continue
            calls, start = 0, clock()
            while calls < settings.warmup or clock() < start + settings.warmup_s:
                if setup:
                    setup()
                fn()
                calls += 1
            each = max((clock() - start) / calls, 1e-7)
            wanted = min(MAX_CALLS, max(settings.repeats, int(settings.min_time_s / each)))
            per_round[name] = -(-wanted // rounds)
        results = {name: Measurement() for name in cases}
        names = list(cases)
        for r in range(rounds):
            for name in (names if r % 2 == 0 else names[::-1]):
                fn, setup = cases[name]
                times = results[name].times
                if isinstance(fn, External):
                    times.extend(fn.next_round())
                    continue
                for _ in range(per_round[name]):
                    if setup:
                        setup()
                    t0 = clock()
                    fn()
                    times.append(clock() - t0)
        return results
    finally:
        if was_enabled:
            gc.enable()


# ----- formats ---------------------------------------------------------------------

def median_seconds(fn, repeats):
    """fn's median time over `repeats` calls after one warm-up call: for the
    scripts that time another runtime in its own Python (litert_int8.py,
    ncnn_int8.py), which import this module alone (standard library only)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ms(seconds):
    """Milliseconds with 3 significant digits below 10 ms (0.00421, 1.32, 25.3, 412)."""
    if seconds is None:
        return "-"
    v = seconds * 1e3
    return f"{v:.3g}" if v < 1 else f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 100 else f"{v:.0f}"


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

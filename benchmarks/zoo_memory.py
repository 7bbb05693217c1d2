"""Peak memory of ResNet-20 (pyconv.applications.resnet20, 28x28x1 inputs, 10
classes) beside its PyTorch twin (zoo_twins.py): training at batch 64 (Adam,
a few steps) and inference (a batch of 64), each case in a fresh subprocess.

    python benchmarks/zoo_memory.py [--steps 5] [--repeats 3] [--threads 2] [--markdown]

In each subprocess: import the framework, build the model (and its optimizer),
make random inputs, read the resident set size (the baseline), run the steps,
then read the peak RSS (resource.getrusage(RUSAGE_SELF).ru_maxrss). Reported:
peak - baseline (what the steps added: activations, gradients, optimizer
state, scratch), and the total peak (the interpreter and the framework's
libraries included). pyconv's subprocess also reports what its graph says it
holds (Graph.held_bytes: activations and scratch kept between calls), where
the build has it. Linux only (the baseline reads /proc/self/statm).
"""

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: E402  (no numpy inside: safe before thread_env)

BATCH = 64
MODEL = "resnet20"
CASES = (("train", "pyconv"), ("train", "PyTorch"), ("infer", "pyconv"), ("infer", "PyTorch"))
MIB = 1 << 20


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=5,
                   help="training steps, or inference calls, per case (default 5)")
    p.add_argument("--repeats", type=int, default=3,
                   help="fresh processes per case, the median shown (default 3)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for pyconv, PyTorch and NumPy (default 2)")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    p.add_argument("--child", nargs=2, metavar=("MODE", "FRAMEWORK"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if min(args.steps, args.repeats, args.threads) < 1:
        p.error("--steps, --repeats and --threads must be at least 1")
    return args


# ----- in the subprocess -------------------------------------------------------------

def _rss():
    """Resident set size now, in bytes."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak():
    """Peak resident set size so far, in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _pyconv_case(mode, threads, rng):
    import pyconv
    timing.apply_threads(threads)
    pyconv.set_seed(0)
    model = pyconv.applications.resnet20(input_shape=(28, 28, 1), num_classes=10)
    model.compile(pyconv.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    x = rng.random((BATCH, 28, 28, 1), dtype="float32")
    y = rng.integers(0, 10, BATCH).astype("uint8")
    graph = model._graph
    if mode == "train":
        # One training scope around the steps, as fit() has: train_on_batch
        # alone gives a training context over 256 MiB back after every step, and
        # held_bytes would read 0 between steps (the peak is the same).
        graph.begin_training()

        def run():
            model.train_on_batch(x, y)
    else:
        def run():
            model.predict_on_batch(x)

    def held():  # only where the build has it (src/cpp/python/bind_graph.cpp)
        return getattr(graph, "held_bytes", None)
    return run, held


def _torch_case(mode, threads, rng):
    # Nothing here imports pyconv, which would add its library to this
    # process's memory: so no timing.apply_threads, and the twin keeps its own
    # initial weights (the values do not change the memory).
    import torch
    from zoo_twins import twin
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    net = twin(torch, MODEL)
    x = torch.from_numpy(rng.random((BATCH, 1, 28, 28), dtype="float32"))
    y = torch.from_numpy(rng.integers(0, 10, BATCH))
    if mode == "train":  # bench_train's loop, inlined: bench_train imports pyconv
        net.train()
        opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
        loss_fn = torch.nn.CrossEntropyLoss()

        def run():
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(net(x), y)
            loss.backward()
            opt.step()
            loss.item()
    else:
        net.eval()

        def run():
            with torch.inference_mode():
                net(x).numpy()
    return run, lambda: None


def child(mode, framework, steps, threads):
    """Runs one case and prints one JSON line of byte counts."""
    timing.thread_env(threads)  # before numpy / torch / pyconv load their thread pools
    import numpy as np
    make = _pyconv_case if framework == "pyconv" else _torch_case
    run, held = make(mode, threads, np.random.default_rng(0))
    baseline, peak_before = _rss(), _peak()
    for _ in range(steps):
        run()
    print(json.dumps({"baseline": baseline, "peak_before": peak_before, "peak": _peak(),
                      "rss_after": _rss(), "held": held()}))


# ----- in the parent ---------------------------------------------------------------

def measure(mode, framework, args):
    """One fresh process per repeat; its JSON line, decoded."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", mode, framework,
           "--steps", str(args.steps), "--threads", str(args.threads)]
    runs = []
    for _ in range(args.repeats):
        done = subprocess.run(cmd, capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"{framework} {mode} failed:\n{done.stderr}")
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
    return summarize(runs)


def summarize(runs):
    """The median process (by peak - baseline): PyTorch's varies by some tens
    of MiB from process to process (its allocator's arenas, thread timing).
    `early`: a process whose peak was reached before its first step, so that
    the steps added nothing above it and peak - baseline is not theirs."""
    runs = sorted(runs, key=lambda r: r["peak"] - r["baseline"])
    added = [r["peak"] - r["baseline"] for r in runs]
    mid = runs[len(runs) // 2]
    return {"added": added[len(runs) // 2], "spread": added[-1] - added[0],
            "peak": mid["peak"], "baseline": mid["baseline"], "held": mid["held"],
            "early": any(r["peak"] <= r["peak_before"] for r in runs)}


def _mib(n):
    return "-" if n is None else f"{n / MIB:.1f}"


def _ratio(a, b):
    return "-" if not b else f"{a / b:.2f}x"


def _row(label, mine, theirs):
    def added(r):
        return _mib(r["added"]) + (" (peak before step 1)" if r["early"] else "")
    return [label, added(mine), added(theirs) if theirs else "-",
            _ratio(mine["added"], theirs and theirs["added"]),
            _mib(mine["peak"]), _mib(theirs["peak"]) if theirs else "-",
            _ratio(mine["peak"], theirs and theirs["peak"]), _mib(mine["held"])]


def main(argv=None):
    args = parse_args(argv)
    if args.child:
        return child(*args.child, args.steps, args.threads)
    from run import emit, format_table, progress
    started = time.perf_counter()
    # Linux keeps a process's peak RSS across fork and exec, so every child's
    # ru_maxrss starts at this process's: it must import neither torch nor numpy.
    have_torch = importlib.util.find_spec("torch") is not None
    cases = [c for c in CASES if c[1] == "pyconv" or have_torch]
    results = {}
    for mode, framework in cases:
        progress(f"{framework} {mode} ...")
        results[mode, framework] = measure(mode, framework, args)
    rows = [_row(label, results[mode, "pyconv"], results.get((mode, "PyTorch")))
            for mode, label in (("train", f"training step (Adam, batch {BATCH})"),
                                ("infer", f"inference (batch {BATCH})"))]
    notes = [f"{MODEL} (pyconv.applications, 28x28x1, 10 classes"
             f"{'; PyTorch twin from benchmarks/zoo_twins.py' if have_torch else ''}; "
             f"{args.threads} threads), random inputs; {args.steps} steps (train_on_batch in "
             "one training scope, as fit has / the standard PyTorch loop) or calls "
             "(predict_on_batch / eval + inference_mode).",
             "added = peak RSS (getrusage ru_maxrss) - RSS after imports, model, optimizer "
             "and data were made, before the first step; peak = the whole process's peak RSS. "
             f"Each case in {args.repeats} fresh processes, the median one shown. ratio = "
             "pyconv / PyTorch. held = pyconv's Graph.held_bytes after the steps "
             "(activations and scratch its contexts keep between calls; '-': the build lacks "
             "it).",
             "baseline RSS / spread of added over the processes (MiB): "
             + ", ".join(f"{f} {m} {_mib(r['baseline'])} / {_mib(r['spread'])}"
                         for (m, f), r in results.items())]
    if not have_torch:
        notes.insert(0, timing.TORCH_INSTALL)
    emit(format_table({"title": "ResNet-20 memory, pyconv beside PyTorch (MiB)",
                       "columns": ["case", "pyconv added", "PyTorch added", "ratio",
                                   "pyconv peak", "PyTorch peak", "ratio", "pyconv held"],
                       "rows": rows, "notes": notes}, args.markdown))
    emit(f"total time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

"""Shared cores: the Keras MNIST CNN's batch-1 latency and batch-64 training
step while other processes spin on the machine, pyconv beside PyTorch and
ONNX Runtime (latency only) in one run.

    python benchmarks/bench_contention.py [--rounds 3] [--seconds 1.0] [--threads 2]

Every figure is measured in a fresh process (the scheduler's placement of a
process's threads is what makes or breaks it), over several rounds; the
worst round counts. Load: N processes that do nothing but spin (pure Python
loops, each ending by itself after a bounded time, and killed at the end in
any case). The issue's goals, for two busy processes on a 2-core machine:
each figure at most 3x its quiet one (a fair share of the cores is 2x), and
never worse than pyconv on one thread under the same load; and two pyconv
processes training side by side at least as fast together as one alone.
Last, batch-1 requests per second from 1, 2 and 4 Python threads sharing
one loaded model (a web server's thread pool), quiet.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

MODEL = "keras_cnn"
STEP_BATCH = 64
GOAL_LOADED = 3.0  # worst loaded figure / quiet figure, with two busy processes
SPIN = "import time\nend = time.time() + {seconds}\nwhile time.time() < end:\n    pass\n"


# ----- the measured process ---------------------------------------------------------

def child(args):
    """One measurement in this (fresh) process: prints the median seconds of
    one call, then the number of calls, as JSON."""
    import timing
    timing.thread_env(args.threads)
    import numpy as np
    rng = np.random.default_rng(0)
    batch = 1 if args.task == "latency" else STEP_BATCH
    x = rng.random((batch, 28, 28, 1), dtype=np.float32)
    y = rng.integers(0, 10, batch)
    if args.framework == "pyconv":
        import models
        import pyconv
        pyconv.set_num_threads(args.threads)
        model = models.pyconv_model(MODEL)
        if args.task == "latency":
            call = lambda: model.predict_on_batch(x)  # noqa: E731
        else:
            model.compile("adam", "sparse_categorical_crossentropy")
            call = lambda: model.train_on_batch(x, y)  # noqa: E731
    elif args.framework == "torch":
        import models
        import torch
        torch.set_num_threads(args.threads)
        net = models.torch_model(torch, MODEL)
        xt, yt = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
        if args.task == "latency":
            net.eval()

            def call():
                with torch.inference_mode():
                    return net(xt).numpy()
        else:
            opt = torch.optim.Adam(net.parameters())
            loss_fn = torch.nn.CrossEntropyLoss()

            def call():
                opt.zero_grad()
                loss = loss_fn(net(xt), yt)
                loss.backward()
                opt.step()
    else:  # onnxruntime, on the ONNX file the parent exported
        import timing as t
        ort, _ = t.load_ort()
        sess = t.ort_session(ort, args.onnx, args.threads)
        xo = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        call = lambda: sess.run(None, {"x": xo})  # noqa: E731
    for _ in range(3):
        call()
    if args.callers:  # requests per second from that many Python threads
        return print(json.dumps(requests_per_second(call, args.callers, args.seconds)))
    times, end = [], time.perf_counter() + args.seconds
    while time.perf_counter() < end or len(times) < 5:
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    print(json.dumps([statistics.median(times), len(times)]))


def requests_per_second(call, callers, seconds):
    """Calls per second of `callers` Python threads calling call() on one
    model at once (predict releases the GIL for its work)."""
    import threading
    counts, start = [0] * callers, threading.Barrier(callers + 1)

    def caller(i):
        start.wait()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            call()
            counts[i] += 1

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    start.wait()
    for t in threads:
        t.join()
    return [sum(counts) / seconds, callers]


def child_command(framework, task, threads, seconds, onnx=None, callers=0):
    """The command line of one measurement in a fresh process (see child)."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", framework, task,
           "--threads", str(threads), "--seconds", str(seconds), "--callers", str(callers)]
    return cmd + (["--onnx", onnx] if onnx else [])


def measure(framework, task, threads, seconds, onnx=None, callers=0):
    cmd = child_command(framework, task, threads, seconds, onnx, callers)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(f"{framework} {task}: {out.stderr.strip()[-500:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


class Busy:
    """n processes that spin for at most `seconds` (killed on exit anyway)."""

    def __init__(self, n, seconds):
        self.n, self.seconds, self.procs = n, seconds, []

    def __enter__(self):
        code = SPIN.format(seconds=self.seconds)
        self.procs = [subprocess.Popen([sys.executable, "-c", code]) for _ in range(self.n)]
        time.sleep(0.2)  # let them start spinning
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
        for p in self.procs:
            p.wait()


# ----- the run ----------------------------------------------------------------------

def export_onnx(tmpdir):
    import timing
    torch, _ = timing.load_torch()
    if torch is None or timing.load_ort()[0] is None:
        return None
    import models
    from bench_infer import _export
    net = models.with_softmax(torch, models.torch_model(torch, MODEL)).eval()
    path = os.path.join(tmpdir, "keras_cnn.onnx")
    _export(torch, net, path)
    return path


def frameworks(onnx):
    import timing
    have_torch = timing.load_torch()[0] is not None
    cases = [("pyconv", "latency"), ("pyconv", "step")]
    if have_torch:
        cases += [("torch", "latency"), ("torch", "step")]
    if onnx:
        cases.append(("onnxruntime", "latency"))
    return cases


def run(args):
    loads = (0, 1, 2)
    with tempfile.TemporaryDirectory() as tmpdir:
        onnx = export_onnx(tmpdir)
        cases = frameworks(onnx)
        # (framework, task, threads) -> {busy: [median per round]}
        results = {}
        runs = [(f, t, args.threads) for f, t in cases] + \
               [("pyconv", t, 1) for t in ("latency", "step")]
        for busy in loads:
            for r in range(args.rounds):
                with Busy(busy, seconds=len(runs) * (args.seconds + 10)):
                    for f, t, th in runs:
                        med, _ = measure(f, t, th, args.seconds, onnx if f == "onnxruntime" else None)
                        results.setdefault((f, t, th), {}).setdefault(busy, []).append(med)
                print(f"[contention] {busy} busy, round {r + 1}/{args.rounds} done",
                      file=sys.stderr, flush=True)
        # Two pyconv processes training side by side against one alone.
        pair = two_processes(args)
        callers = {(f, n): max(measure(f, "latency", args.threads, args.seconds,
                                       onnx if f == "onnxruntime" else None, callers=n)[0]
                               for _ in range(args.rounds))
                   for f in dict.fromkeys(f for f, _ in cases) for n in (1, 2, 4)}
    report(results, pair, callers, loads, args)


def two_processes(args):
    """Steps per second of one pyconv trainer alone, and of two side by side
    (each with --threads), over the rounds: worst pair round against the
    best single round."""
    single, pair = [], []
    for _ in range(args.rounds):
        med, _ = measure("pyconv", "step", args.threads, args.seconds)
        single.append(1.0 / med)
        cmd = child_command("pyconv", "step", args.threads, args.seconds)
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True) for _ in range(2)]
        outs = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
        pair.append(sum(1.0 / o[0] for o in outs))
    return min(single), max(single), min(pair)


def report(results, pair, callers, loads, args):
    def fmt(seconds):
        return f"{seconds * 1e3:.3f}" if seconds >= 1e-3 else f"{seconds * 1e6:.0f} us"

    print(f"Keras MNIST CNN under load: the best quiet round and the worst loaded one of "
          f"{args.rounds}, each in a fresh process ({args.threads} threads unless noted; ms unless "
          f"noted)")
    print(f"{'runtime':28s} {'task':10s} " + " ".join(f"{f'{b} busy' if b else 'quiet':>12s}" for b in loads)
          + f" {'2 busy/quiet':>13s}")
    one_thread = {t: max(results[("pyconv", t, 1)][2]) for t in ("latency", "step")}  # loaded
    goals = []
    for (f, t, th), by_busy in results.items():
        worst = {b: max(v) for b, v in by_busy.items()}
        quiet = worst[0] = min(by_busy[0])
        name = f + ("" if th == args.threads else f" ({th} thread)")
        task = "batch-1" if t == "latency" else f"step b{STEP_BATCH}"
        ratio = worst[2] / quiet
        print(f"{name:28s} {task:10s} " + " ".join(f"{fmt(worst[b]):>12s}" for b in loads)
              + f" {ratio:12.2f}x")
        if f == "pyconv" and th == args.threads:
            goals.append((f"pyconv {task}: 2 busy <= {GOAL_LOADED:g}x quiet", f"{ratio:.2f}x",
                          ratio <= GOAL_LOADED))
            goals.append((f"pyconv {task}: never worse than 1 thread under load",
                          f"{worst[2] / one_thread[t]:.2f}x the 1-thread figure",
                          worst[2] <= one_thread[t]))
    single_lo, single_hi, pair_lo = pair
    print(f"\nTwo pyconv trainers side by side: {pair_lo:.0f} steps/s together (worst round) "
          f"against {single_lo:.0f}-{single_hi:.0f} alone")
    goals.append(("two pyconv processes >= one alone", f"{pair_lo / single_hi:.2f}x",
                  pair_lo >= single_hi))
    print("\nBatch-1 requests per second from Python threads sharing one loaded model (quiet, "
          "best round)")
    for f in dict.fromkeys(f for f, _ in callers):
        print(f"  {f:14s} " + "  ".join(f"{n} thread{'s' if n > 1 else ''}: "
                                          f"{callers[(f, n)]:8,.0f}/s" for n in (1, 2, 4)))
    print("\nGoals")
    for name, measured, ok in goals:
        print(f"  {'PASS' if ok else 'MISS'}  {name}: {measured}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--child", nargs=2, metavar=("FRAMEWORK", "TASK"), help=argparse.SUPPRESS)
    p.add_argument("--onnx", help=argparse.SUPPRESS)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--seconds", type=float, default=1.0, help="timed seconds per measurement")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--callers", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        args.framework, args.task = args.child
        return child(args)
    run(args)


if __name__ == "__main__":
    main()

"""pyconv benchmark suite: pyconv against PyTorch (and ONNX Runtime for
inference) on the same shapes and data, with the same thread count everywhere.

    python benchmarks/run.py                      # everything (several minutes)
    python benchmarks/run.py --quick              # fewer repeats
    python benchmarks/run.py --only conv,gemm     # a subset: conv, gemm, train, infer, zoo,
                                                  # seed_models
    python benchmarks/run.py --threads 2          # threads for every framework (default 2)
    python benchmarks/run.py --markdown           # tables as Markdown, for the README

Results go to stdout; progress lines go to stderr. Every time is the median of
the timed repeats after warm-up; ratio = pyconv time / other time (< 1 means
pyconv is faster). PyTorch and ONNX Runtime are optional.
"""

import argparse
import os
import platform
import sys
import time
import traceback
from types import SimpleNamespace

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: E402  (no numpy inside: safe before thread_env)

BENCHES = ("conv", "gemm", "train", "infer", "zoo", "seed_models")
BUSY_WARNING = 0.25  # cores kept busy by other processes above which a section is flagged


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer warm-ups, repeats and steps")
    p.add_argument("--only", default=",".join(BENCHES),
                   help=f"comma-separated subset of {','.join(BENCHES)} (default: all)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for pyconv, PyTorch, ONNX Runtime and NumPy (default 2)")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = p.parse_args(argv)
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in args.only if b not in BENCHES]
    if unknown or not args.only:
        p.error(f"--only takes a comma-separated subset of {','.join(BENCHES)}, "
                f"received {','.join(unknown) or 'nothing'}")
    if args.threads < 1:
        p.error("--threads must be at least 1")
    return args


# ----- printing --------------------------------------------------------------------

def _numeric(cell):
    text = cell.rstrip("x%").replace(".", "", 1).replace("-", "", 1)
    return text.isdigit() or cell == "-"


def format_table(table, markdown):
    columns, rows = table["columns"], table["rows"]
    lines = []
    if markdown:
        lines.append(f"### {table['title']}\n")
        lines.append("| " + " | ".join(columns) + " |")
        aligns = ["---:" if rows and all(_numeric(r[i]) for r in rows) else "---"
                  for i in range(len(columns))]
        lines.append("|" + "|".join(aligns) + "|")
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        if table.get("notes"):
            lines.append("")
            lines += [f"- {n}" for n in table["notes"]]
    else:
        widths = [max(len(str(c)) for c in [col] + [r[i] for r in rows])
                  for i, col in enumerate(columns)]
        right = [bool(rows) and all(_numeric(r[i]) for r in rows) for i in range(len(columns))]

        def line(cells):
            return "  ".join(c.rjust(w) if rj else c.ljust(w)
                             for c, w, rj in zip(cells, widths, right)).rstrip()

        lines.append(table["title"])
        lines.append("=" * len(table["title"]))
        lines.append(line(columns))
        lines.append("  ".join("-" * w for w in widths))
        lines += [line(r) for r in rows]
        lines += [f"  * {n}" for n in table.get("notes", [])]
    return "\n".join(lines) + "\n"


def emit(text=""):
    print(text, flush=True)


def progress(text):
    print(f"[bench] {text}", file=sys.stderr, flush=True)


# ----- environment -----------------------------------------------------------------

def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _numpy_blas():
    import numpy as np
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # noqa: BLE001 - older NumPy: no dict mode
        return "unknown BLAS"


def environment(args, settings, fw, threads_info):
    import numpy as np
    import pyconv
    mode = "quick" if args.quick else "full"
    isa = pyconv._core.kernel_isa() if hasattr(pyconv._core, "kernel_isa") else "unknown ISA"
    rows = [
        ["machine", f"{_cpu_name()}, {os.cpu_count()} logical cores, {platform.system()}"],
        ["python", platform.python_version()],
        ["pyconv", f"{pyconv.__version__} (kernels: {isa}, default threads from: "
                   f"{pyconv._core.default_threads_source()})"],
        ["numpy", f"{np.__version__} ({_numpy_blas()})"],
        ["torch", fw.torch_msg], ["onnxruntime", fw.ort_msg],
        ["threads", ", ".join(f"{k} {v}" for k, v in threads_info.items())
         + (f", onnxruntime {settings.threads}" if fw.ort else "")],
        ["timing", f"{mode}: per measurement, warm-up: >= {settings.warmup} call(s) and "
                   f">= {settings.warmup_s:g} s, then the median of >= {settings.repeats} "
                   f"calls timed one by one (more until {settings.min_time_s:g} s); "
                   f"training: {settings.train_warmup} warm-up + median of "
                   f"{settings.train_steps} steps"],
    ]
    return {"title": "pyconv benchmarks", "columns": ["item", "value"], "rows": rows,
            "notes": [timing.TORCH_INSTALL] if fw.torch is None else []}


def summary_table(targets):
    rows = [[t["name"], t["goal"], t["measured"], timing.verdict(t["ok"])] for t in targets]
    passed = sum(t["ok"] is True for t in targets)
    missed = sum(t["ok"] is False for t in targets)
    return {"title": "Summary against the targets",
            "columns": ["target", "goal", "measured", "result"], "rows": rows,
            "notes": [f"{passed} PASS, {missed} MISS, {len(targets) - passed - missed} n/a. "
                      "ratio = pyconv time / other time (< 1: pyconv faster)."]}


# ----- main ------------------------------------------------------------------------

def main(argv=None):
    args = parse_args(argv)
    timing.thread_env(args.threads)  # before numpy / torch / pyconv load their thread pools
    started = time.perf_counter()

    torch, torch_msg = timing.load_torch()
    ort, ort_msg = timing.load_ort()
    fw = SimpleNamespace(torch=torch, torch_msg=torch_msg, ort=ort, ort_msg=ort_msg)
    threads_info = timing.apply_threads(args.threads, torch)
    settings = timing.Settings.make(args.quick, args.threads)

    if torch is None:
        emit(timing.TORCH_INSTALL + " -- printing pyconv's numbers only.\n")
    elif ort is None and "infer" in args.only:
        emit(timing.ORT_INSTALL + " -- inference compares against PyTorch only.\n")
    emit(format_table(environment(args, settings, fw, threads_info), args.markdown))

    targets = []
    for name in args.only:
        progress(f"{name} ...")
        t0 = time.perf_counter()
        meter = timing.BusyMeter()
        try:
            module = __import__(f"bench_{name}")
            result = module.run(settings, fw)
        except Exception:  # noqa: BLE001 - one broken benchmark must not hide the others
            emit(f"{name}: FAILED\n{traceback.format_exc()}")
            targets.append({"name": f"{name} benchmark", "goal": "runs",
                            "measured": "raised an exception (see above)", "ok": False})
            continue
        other = meter.other_cores()
        if other is not None:
            line = (f"machine load during {name}: other processes kept {other:.1f} of "
                    f"{os.cpu_count()} cores busy on average")
            if other > BUSY_WARNING:
                line = ("WARNING: " + line + ", so these numbers are unreliable (threads "
                        "waited for cores); rerun when the machine is quiet")
            result["tables"][-1].setdefault("notes", []).append(line)
        for table in result["tables"]:
            emit(format_table(table, args.markdown))
        targets += result["targets"]
        progress(f"{name} done in {time.perf_counter() - t0:.0f} s")

    emit(format_table(summary_table(targets), args.markdown))
    emit(f"total time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

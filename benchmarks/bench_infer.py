"""Inference: batch-1 latency and batch-256 throughput of both models, pyconv
against PyTorch and ONNX Runtime, all three with the same weights (pyconv's,
copied into the PyTorch model, which is then exported to ONNX). Outputs are
compared before anything is timed.

Each time includes the runtime's Python call: pyconv `model.predict_on_batch(x)`
(and the raw `model._graph.predict(x)` when predict_on_batch is much slower),
PyTorch `net(torch.from_numpy(x)).numpy()` under inference_mode in eval mode,
ONNX Runtime `sess.run(None, {"x": x})`. Beside them, pyconv's C API: a small C
program (capi/bench_capi.c, built here with CMake against the installed
package) times pcv_runner_predict on the saved model, taking turns with the
Python runtimes.
"""

import os
import shutil
import subprocess
import tempfile
import warnings

import numpy as np

import pyconv
import models
from bench_train import load_images
from timing import (ORT_INSTALL, TORCH_INSTALL, External, compare, ms, ort_session, ratio,
                    rounds_of, us)

BIG = 256
# The goals for pyconv alone (seconds, or images/s).
GOAL_LENET_PY_US = 15e-6
GOAL_LENET_CAPI_US = 8e-6
GOAL_KERAS_PY_US = 110e-6
GOAL_LENET_BIG_IPS = 130_000
CAPI = "pyconv C API runner"
ATOL = 1e-3        # max abs difference accepted between the runtimes' outputs
SHOW_RAW = 1.25    # show _graph.predict when predict_on_batch is this much slower


def _export(torch, net, path):
    """torch.onnx.export with a dynamic batch axis; the TorchScript exporter first
    (needs only onnx), then the dynamo one (needs onnxscript)."""
    example = torch.zeros(1, 1, 28, 28)
    kwargs = dict(input_names=["x"], output_names=["y"],
                  dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(net, (example,), path, dynamo=False, opset_version=17, **kwargs)
            return
        except Exception as first:  # noqa: BLE001 - try the other exporter
            error = first
        try:
            torch.onnx.export(net, (example,), path, **kwargs)
            return
        except Exception as second:  # noqa: BLE001
            raise RuntimeError(f"torch.onnx.export failed: {error}; then: {second}") from None


def build_capi(tmpdir):
    """Builds capi/bench_capi.c with CMake against the installed pyconv:
    (path of the program, None) or (None, why not)."""
    cmake = shutil.which("cmake")
    if cmake is None:
        return None, "C API not timed: cmake not found"
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "capi")
    build = os.path.join(tmpdir, "capi-build")
    try:
        for cmd in ([cmake, "-S", src, "-B", build, "-DCMAKE_BUILD_TYPE=Release",
                     f"-Dpyconv_DIR={pyconv.get_cmake_dir()}"],
                    [cmake, "--build", build]):
            subprocess.run(cmd, check=True, capture_output=True, text=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        return None, f"C API not timed: building capi/bench_capi.c failed: {detail.strip()[-300:]}"
    return os.path.join(build, "bench_capi"), None


class CapiRunner(External):
    """bench_capi on one batch, as a case of timing.compare: each round asks
    the program for its share and reads back its per-call times."""

    def __init__(self, exe, model_path, x, settings, tmpdir):
        path = os.path.join(tmpdir, f"x{len(x)}.f32")
        np.ascontiguousarray(x, dtype=np.float32).tofile(path)
        rounds = rounds_of(settings)
        self.proc = subprocess.Popen(
            [exe, model_path, path, str(len(x)), str(settings.min_time_s / rounds), str(rounds),
             str(settings.threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.rounds_left = rounds

    def next_round(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().split()
        if not line or line[0] != "times_us":
            raise RuntimeError("bench_capi stopped: " + " ".join(line))
        self.rounds_left -= 1
        return [float(v) * 1e-6 for v in line[1:]]

    def first_output(self):
        """The first sample's outputs, once every round has run."""
        self.proc.stdin.close()
        out = self.proc.stdout.read()  # not communicate(): readline() may have buffered it
        self.proc.wait(timeout=60)
        return np.array([float(v) for v in out.split()], dtype=np.float32)


def _bench_model(name, settings, fw, x1, xb, tmpdir, capi_exe=None):
    pyconv.set_seed(0)
    model = models.pyconv_model(name)
    graph = model._graph
    impls = {"pyconv predict_on_batch": model.predict_on_batch,
             "pyconv _graph.predict": graph.predict}
    problems = []
    torch, ort = fw.torch, fw.ort
    if torch is not None:
        net = models.with_softmax(torch, models.torch_model(torch, name))
        models.copy_weights(torch, model, net[0])
        net.eval()

        def torch_predict(x, net=net):
            with torch.inference_mode():
                return net(torch.from_numpy(x.reshape(len(x), 1, 28, 28))).numpy()

        impls["PyTorch"] = torch_predict
        if ort is not None:
            path = os.path.join(tmpdir, f"{name}.onnx")
            try:
                _export(torch, net, path)
                sess = ort_session(ort, path, settings.threads)
                impls["ONNX Runtime"] = (lambda x, sess=sess:
                                         sess.run(None, {"x": x.reshape(len(x), 1, 28, 28)})[0])
            except Exception as exc:  # noqa: BLE001 - report and go on without ORT
                problems.append(f"ONNX Runtime skipped for {name}: {exc}")

    # Same outputs everywhere before timing.
    reference = model.predict_on_batch(xb)
    for impl, fn in impls.items():
        if impl == "pyconv predict_on_batch":
            continue
        diff = float(np.abs(fn(xb) - reference).max())
        if not diff < ATOL:
            problems.append(f"ERROR: {models.NAMES[name]}: {impl} output differs from pyconv "
                            f"predict_on_batch by {diff:.2e} (> {ATOL:g}); a bug somewhere "
                            "(weight copy or a kernel); its timings are shown anyway.")

    capi = {}
    if capi_exe:
        model_path = os.path.join(tmpdir, f"{name}.pcv")
        model.save(model_path)
    results = []
    for x in (x1, xb):
        cases = {impl: (lambda fn=fn: fn(x)) for impl, fn in impls.items()}
        if capi_exe:
            capi[len(x)] = cases[CAPI] = CapiRunner(capi_exe, model_path, x, settings, tmpdir)
        results.append(compare(cases, settings))
    for runner in capi.values():
        diff = float(np.abs(runner.first_output() - reference[0]).max())
        if not diff < ATOL:
            problems.append(f"ERROR: {models.NAMES[name]}: {CAPI} output differs from pyconv "
                            f"predict_on_batch by {diff:.2e} (> {ATOL:g})")
    ones, bigs = results
    return {impl: (ones[impl].median, bigs[impl].median) for impl in ones}, problems


def _goal(name, goal, value, target, shorter):
    """A summary row for one of the issue's absolute goals, with value/goal."""
    if value is None:
        return {"name": name, "goal": goal, "measured": "not measured", "ok": None}
    if shorter:  # a time: value/goal <= 1 passes
        text = f"{value * 1e6:.1f} us ({value / target:.2f}x the goal)"
        return {"name": name, "goal": goal, "measured": text, "ok": value <= target}
    text = f"{value:.0f} img/s ({value / target:.2f}x the goal)"
    return {"name": name, "goal": goal, "measured": text, "ok": value >= target}


def _goals(name, pob, capi):
    if name == "lenet5":
        return [_goal("batch-1 LeNet-5, Python", f"<= {us(GOAL_LENET_PY_US)} us", pob[0],
                      GOAL_LENET_PY_US, True),
                _goal("batch-1 LeNet-5, C API", f"<= {us(GOAL_LENET_CAPI_US)} us",
                      capi[0] if capi else None, GOAL_LENET_CAPI_US, True),
                _goal(f"batch-{BIG} LeNet-5, Python", f">= {GOAL_LENET_BIG_IPS} img/s",
                      BIG / pob[1], GOAL_LENET_BIG_IPS, False)]
    if name == "keras_cnn":
        return [_goal("batch-1 Keras MNIST CNN, Python", f"<= {us(GOAL_KERAS_PY_US)} us", pob[0],
                      GOAL_KERAS_PY_US, True)]
    return []  # the seeds' other models have no inference goal of their own


def run(settings, fw):
    torch, ort = fw.torch, fw.ort
    x_all, _, data_note = load_images("test")
    xb = pyconv.data.normalize(x_all[:BIG]).reshape(BIG, 28, 28, 1)
    x1 = np.ascontiguousarray(xb[:1])

    rows, targets, problems_seen = [], [], []
    with tempfile.TemporaryDirectory() as tmpdir:
        capi_exe, why = build_capi(tmpdir)
        if why:
            problems_seen.append(why)
        for name in models.NAMES:
            res, problems = _bench_model(name, settings, fw, x1, xb, tmpdir, capi_exe)
            problems_seen += problems
            pob, raw = res["pyconv predict_on_batch"], res["pyconv _graph.predict"]
            others = {k: v for k, v in res.items() if not k.startswith("pyconv")}
            show = [("pyconv predict_on_batch", pob)]
            if pob[0] > SHOW_RAW * raw[0] or pob[1] > SHOW_RAW * raw[1]:
                show.append(("pyconv _graph.predict", raw))
            if CAPI in res:
                show.append((CAPI, res[CAPI]))
            targets += _goals(name, pob, res.get(CAPI))
            show += list(others.items())
            for impl, (one, big) in show:
                mine = impl.startswith("pyconv")
                rows.append([models.NAMES[name], impl, us(one),
                             "-" if mine else ratio(pob[0], one),
                             ms(big), f"{BIG / big:.0f}",
                             "-" if mine else ratio(pob[1], big)])

            label = models.NAMES[name]
            bad = any(p.startswith("ERROR") and label in p for p in problems)
            ort_res = others.get("ONNX Runtime")
            if ort_res is None:
                why = TORCH_INSTALL if torch is None else (ORT_INSTALL if ort is None
                                                           else "ONNX export failed")
                targets.append({"name": f"batch-1 latency {label}", "goal": "< 1.00x ORT",
                                "measured": f"{us(pob[0])} us; {why}", "ok": None})
                targets.append({"name": f"batch-{BIG} throughput {label}",
                                "goal": "> ORT images/s",
                                "measured": f"{BIG / pob[1]:.0f} img/s; {why}", "ok": None})
                continue
            suffix = "; outputs DIFFER" if bad else ""
            targets.append({
                "name": f"batch-1 latency {label}", "goal": "< 1.00x ORT",
                "measured": f"{ratio(pob[0], ort_res[0])} ({us(pob[0])} vs "
                            f"{us(ort_res[0])} us){suffix}",
                "ok": pob[0] < ort_res[0] and not bad})
            targets.append({
                "name": f"batch-{BIG} throughput {label}", "goal": "> ORT images/s",
                "measured": f"{BIG / pob[1]:.0f} vs {BIG / ort_res[1]:.0f} img/s{suffix}",
                "ok": pob[1] < ort_res[1] and not bad})

    notes = [f"data: first {BIG} images of {data_note}; batch 1 uses "
             "the first of them. Same weights in every runtime (pyconv's random init); "
             f"outputs (softmax) checked to agree within {ATOL:g} before timing.",
             "ratio = pyconv predict_on_batch time / this row's time (< 1: pyconv faster). "
             f"pyconv _graph.predict is shown when predict_on_batch is > {SHOW_RAW}x slower.",
             f"{CAPI}: pcv_runner_predict timed call by call in C (capi/bench_capi.c, "
             "built with CMake against the installed package; pcv_set_num_threads set to "
             "the same thread count), taking turns with the Python runtimes."]
    if torch is not None and ort is not None:
        notes.append(f"ONNX Runtime: model exported by torch.onnx.export, CPU provider, "
                     f"intra_op_num_threads={settings.threads}.")
    notes += problems_seen
    if torch is None:
        notes.insert(0, TORCH_INSTALL)
    elif ort is None:
        notes.insert(0, ORT_INSTALL)
    return {"tables": [{"title": f"Inference: batch-1 latency (us) and batch-{BIG} "
                                 "throughput (median)",
                        "columns": ["model", "runtime", "batch-1 us", "batch-1 ratio",
                                    f"batch-{BIG} ms", "images/s", f"batch-{BIG} ratio"],
                        "rows": rows, "notes": notes}],
            "targets": targets}

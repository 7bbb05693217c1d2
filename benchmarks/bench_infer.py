"""Inference: batch-1 latency and batch-256 throughput of both models, pyconv
against PyTorch and ONNX Runtime, all three with the same weights (pyconv's,
copied into the PyTorch model, which is then exported to ONNX). Outputs are
compared before anything is timed.

Each time includes the runtime's Python call: pyconv `model.predict_on_batch(x)`
(and the raw `model._graph.predict(x)` when predict_on_batch is much slower),
PyTorch `net(torch.from_numpy(x)).numpy()` under inference_mode in eval mode,
ONNX Runtime `sess.run(None, {"x": x})`.
"""

import os
import tempfile
import warnings

import numpy as np

import pyconv
import models
from bench_train import load_images
from timing import ORT_INSTALL, TORCH_INSTALL, compare, ms, ort_session, ratio, us

BIG = 256
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


def _bench_model(name, settings, fw, x1, xb, tmpdir):
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

    ones = compare({impl: (lambda fn=fn: fn(x1)) for impl, fn in impls.items()}, settings)
    bigs = compare({impl: (lambda fn=fn: fn(xb)) for impl, fn in impls.items()}, settings)
    return {impl: (ones[impl].median, bigs[impl].median) for impl in impls}, problems


def run(settings, fw):
    torch, ort = fw.torch, fw.ort
    x_all, _, data_note = load_images("test")
    xb = pyconv.data.normalize(x_all[:BIG]).reshape(BIG, 28, 28, 1)
    x1 = np.ascontiguousarray(xb[:1])

    rows, targets, problems_seen = [], [], []
    with tempfile.TemporaryDirectory() as tmpdir:
        for name in models.NAMES:
            res, problems = _bench_model(name, settings, fw, x1, xb, tmpdir)
            problems_seen += problems
            pob, raw = res["pyconv predict_on_batch"], res["pyconv _graph.predict"]
            others = {k: v for k, v in res.items() if not k.startswith("pyconv")}
            show = [("pyconv predict_on_batch", pob)]
            if pob[0] > SHOW_RAW * raw[0] or pob[1] > SHOW_RAW * raw[1]:
                show.append(("pyconv _graph.predict", raw))
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
             f"pyconv _graph.predict is shown when predict_on_batch is > {SHOW_RAW}x slower."]
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

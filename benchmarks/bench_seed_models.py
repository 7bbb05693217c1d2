"""The models the seeds describe, against PyTorch and Keras 3 side by side in
one run: the classic LeNet-5 (tanh, average pooling) beside the ReLU one, and
Keras's "Simple MNIST convnet" exactly as its tutorial writes it (batch 128),
with pyconv's per-layer breakdown of each training step (pyconv.profile).

  - Training step: train_on_batch, Adam(1e-3), sparse categorical
    cross-entropy, median of the timed steps (PyTorch: zero_grad, forward,
    loss, backward, step, loss.item(); the same weights to start).
  - Batch-1 inference: predict_on_batch (PyTorch: eval, no_grad, softmax).
  - Keras 3 on TensorFlow joins when $PYCONV_KERAS_PYTHON names a Python with
    tensorflow-cpu (see benchmarks/README.md); it runs in that process
    (benchmarks/keras_side.py), after the others, with the same threads.
  - Roofline: the Keras example's step counted as direct convolution, forward
    and backward (3 x its forward multiply-adds x 2 flops), against the best
    float32 matrix multiply NumPy or PyTorch reaches at 2048^3 in this run.

Goals (issue 14): the tanh LeNet-5 within 1.15x of the ReLU one (training and
batch 1); the Keras example at most 0.33x Keras's and 0.35x PyTorch's step,
and at >= 50% of the roofline.

    python benchmarks/bench_seed_models.py [--quick] [--threads 2]
"""

import json
import os
import subprocess
import sys

import numpy as np

import pyconv
import models
from timing import compare, standalone

CASES = [("lenet5", 64), ("lenet5_classic", 64), ("keras_example", 128)]
# Models whose pyconv versions are timed in one compare(), taking turns, and
# their PyTorch versions in another: the tanh / ReLU ratio is then measured
# under the same load (timed one after the other, a busy spell during one of
# them moved it by 0.3-0.5), and neither model follows PyTorch's calls (whose
# threads keep spinning for a while after them) more often than the other.
GROUPS = [("lenet5", "lenet5_classic"), ("keras_example",)]
HERE = os.path.dirname(os.path.abspath(__file__))


def forward_macs(model):
    """Multiply-adds of one sample's forward pass through the Conv2D and Dense layers."""
    total, shape = 0, model.input_shape
    for layer in model.layers:
        out = layer.compute_output_shape(shape)
        if layer.core_type == "Conv2D":
            kh, kw, cin, _ = layer.get_weights()[0].shape
            total += int(np.prod(out[1:])) * kh * kw * cin
        elif layer.core_type == "Dense":
            total += layer.get_weights()[0].size
        shape = out
    return total


def torch_step(torch, net, x, y):
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x.reshape(-1, 1, 28, 28))  # C == 1: NHWC bytes == NCHW bytes
    yt = torch.from_numpy(y.astype(np.int64))
    net.train()

    def step():
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt), yt)
        loss.backward()
        opt.step()
        return loss.item()

    return step


def torch_batch1(torch, net, x1):
    infer = models.with_softmax(torch, net).eval()
    xt = torch.from_numpy(x1.reshape(-1, 1, 28, 28))

    def run():
        with torch.no_grad():
            return infer(xt)

    return run


def roofline(torch, settings):
    a = np.random.default_rng(0).standard_normal((2048, 2048), dtype=np.float32)
    cases = {"numpy": lambda: a @ a}
    if torch is not None:
        at = torch.from_numpy(a)
        cases["torch"] = lambda: torch.mm(at, at)
    times = compare(cases, settings)
    return max(2 * 2048 ** 3 / m.median for m in times.values()) / 1e9


def keras_times(threads, steps):
    python = os.environ.get("PYCONV_KERAS_PYTHON")
    if not python:
        return None, "Keras not run: set PYCONV_KERAS_PYTHON to a Python with tensorflow-cpu"
    specs = [f"{name}:{batch}" for name, batch in CASES]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), TF_NUM_INTRAOP_THREADS=str(threads),
               TF_NUM_INTEROP_THREADS="1")
    done = subprocess.run([python, os.path.join(HERE, "keras_side.py"), str(threads), str(steps)]
                          + specs, capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        return None, "Keras failed: " + done.stderr.strip().splitlines()[-1]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result, f"Keras {result['keras']} on TensorFlow {result['tensorflow']}"


def measure(settings, torch):
    """Times, per model: {"step"/"batch1": {impl: s}, "flops", "batch"}; the
    profiles; Keras's times (or None) and a line about them; the roofline."""
    rng = np.random.default_rng(0)
    results, profiles, built = {}, {}, {}
    batches = dict(CASES)
    for group in GROUPS:
        step, one = {}, {}
        for name in group:
            batch = batches[name]
            pyconv.set_seed(0)
            model = models.pyconv_model(name)
            model.compile(pyconv.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
            x = rng.uniform(0, 1, (batch, 28, 28, 1)).astype(np.float32)
            y = rng.integers(0, 10, batch)
            x1 = x[:1]
            built[name] = model, x, y
            step[name, "pyconv"] = lambda m=model, x=x, y=y: m.train_on_batch(x, y)
            one[name, "pyconv"] = lambda m=model, x1=x1: m.predict_on_batch(x1)
            if torch is not None:
                torch.manual_seed(0)
                net = models.torch_model(torch, name)
                models.copy_weights(torch, model, net)
                step[name, "torch"] = torch_step(torch, net, x, y)
                one[name, "torch"] = torch_batch1(torch, net, x1)
            results[name] = {"step": {}, "batch1": {}, "flops": 6 * forward_macs(model) * batch,
                             "batch": batch}
        for what, cases in (("step", step), ("batch1", one)):
            for impl in ("pyconv", "torch"):
                mine = {key: fn for key, fn in cases.items() if key[1] == impl}
                for (name, _), m in (compare(mine, settings).items() if mine else ()):
                    results[name][what][impl] = m.median
    for name, (model, x, y) in built.items():
        with pyconv.profile(model) as report:
            for _ in range(20):
                model.train_on_batch(x, y)
        profiles[name] = report
    keras, keras_note = keras_times(settings.threads, settings.train_steps)
    return results, profiles, keras, keras_note, roofline(torch, settings)


def tables(results, keras, keras_note, roof):
    """run.py's tables and targets: the side-by-side times and the goals."""
    rows, targets = [], []
    fmt = lambda v: f"{v * 1e3:.3f}" if v else "-"
    for name, batch in CASES:
        for what in ("step", "batch1"):
            mine = results[name][what]["pyconv"]
            theirs = results[name][what].get("torch")
            ker = keras[name][what] if keras else None
            rows.append([models.NAMES[name], str(batch if what == "step" else 1), what,
                         fmt(mine), fmt(theirs), fmt(ker),
                         f"{mine / theirs:.2f}x" if theirs else "-",
                         f"{mine / ker:.2f}x" if ker else "-"])
    for what in ("step", "batch1"):
        r = results["lenet5_classic"][what]["pyconv"] / results["lenet5"][what]["pyconv"]
        targets.append({"name": f"tanh LeNet-5 / ReLU LeNet-5, {what}", "goal": "<= 1.15x",
                        "measured": f"{r:.2f}x", "ok": r <= 1.15})
    k = results["keras_example"]
    if "torch" in k["step"]:
        r = k["step"]["pyconv"] / k["step"]["torch"]
        targets.append({"name": "Keras example step", "goal": "<= 0.35x PyTorch",
                        "measured": f"{r:.2f}x", "ok": r <= 0.35})
    if keras:
        r = k["step"]["pyconv"] / keras["keras_example"]["step"]
        targets.append({"name": "Keras example step", "goal": "<= 0.33x Keras",
                        "measured": f"{r:.2f}x", "ok": r <= 0.33})
    achieved = k["flops"] / k["step"]["pyconv"] / 1e9
    targets.append({"name": "Keras example step", "goal": ">= 50% of the roofline",
                    "measured": f"{100 * achieved / roof:.0f}% ({achieved:.1f} of {roof:.1f} "
                                f"GFLOP/s)", "ok": achieved >= 0.5 * roof})
    if keras:
        keras_note += (" (in its own process, after the others: a load warning below counts "
                       "it as other work)")
    notes = [keras_note, f"Keras example: {k['flops'] / 1e9:.2f} GFLOP a step counted as direct "
             "convolution (3 x the forward multiply-adds x 2); roofline: the best of NumPy and "
             "PyTorch at a 2048^3 float32 matrix multiply in this run."]
    return {"tables": [{"title": "The seeds' models: training step and batch-1 predict (ms)",
                        "columns": ["model", "batch", "what", "pyconv", "PyTorch", "Keras",
                                    "vs PyTorch", "vs Keras"],
                        "rows": rows, "notes": notes}],
            "targets": targets}


def run(settings, fw):
    """For benchmarks/run.py (--only seed)."""
    results, _, keras, keras_note, roof = measure(settings, fw.torch)
    return tables(results, keras, keras_note, roof)


def main():
    _, settings, torch = standalone(__doc__)
    results, profiles, keras, keras_note, roof = measure(settings, torch)
    out = tables(results, keras, keras_note, roof)
    table = out["tables"][0]
    print()
    for note in table["notes"]:
        print(note)
    widths = [15, 5, 7, 9, 9, 9, 11, 9]
    print("\n" + " ".join(f"{c:>{w}}" for c, w in zip(table["columns"], widths)))
    for row in table["rows"]:
        print(" ".join(f"{c:>{w}}" for c, w in zip(row, widths)))
    print("\nGoals")
    for t in out["targets"]:
        print(f"  {t['name']}: {t['measured']} (goal {t['goal']})")
    for name, _ in CASES:
        print(f"\npyconv's {models.NAMES[name]} training step, per layer (pyconv.profile)")
        print(profiles[name])


if __name__ == "__main__":
    sys.exit(main())

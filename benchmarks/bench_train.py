"""Training throughput on Fashion-MNIST, batch 64, Adam(1e-3), sparse categorical
cross-entropy: pyconv against PyTorch, both starting from the same weights and
stepping through the same batches in the same order.

pyconv: `model.train_on_batch(x, y)` timed step by step (median), then the same
number of steps through `model.fit` (whole call / steps: the per-batch cost a
user of fit() sees). PyTorch: the standard loop (zero_grad, forward, loss,
backward, step, loss.item()) on NCHW tensors, timed step by step (median).
"""

import time

import numpy as np

import pyconv
import models
from timing import TORCH_INSTALL, ms, ratio

BATCH = 64
LR = 1e-3
TARGETS = {"keras_cnn": 0.50, "lenet5": 0.33}  # pyconv step time / PyTorch step time


def load_images(split="train"):
    """(x uint8 (N, 28, 28), y uint8 (N,), a line naming the data) for `split`
    ("train" or "test") of Fashion-MNIST, or of the bundled MNIST sample if
    Fashion-MNIST cannot be found."""
    index = 0 if split == "train" else 1
    try:
        x, y = pyconv.datasets.fashion_mnist.load_data()[index]
        return x, y, f"Fashion-MNIST {split} set"
    except OSError as exc:  # DatasetNotFoundError is an OSError
        x, y = pyconv.datasets.mnist.load_sample()[index]
        reason = str(exc).splitlines()[0]
        return x, y, (f"the bundled MNIST sample's {split} part (Fashion-MNIST not found: "
                      f"{reason})")


def _step_times(steppers, settings):
    """{name: median seconds per step} for step functions step(i) that train on
    batch i. Each warms up on batches 0..warmup-1; then the timed steps go by in
    settings.rounds chunks, the implementations taking turns (as in
    timing.compare), every step on its own batch and timed on its own."""
    warmup, steps = settings.train_warmup, settings.train_steps
    for step in steppers.values():
        for i in range(warmup):
            step(i)
    times = {name: [] for name in steppers}
    chunk = -(-steps // max(1, settings.rounds))
    for r, first in enumerate(range(warmup, warmup + steps, chunk)):
        names = list(steppers) if r % 2 == 0 else list(steppers)[::-1]
        for name in names:
            for i in range(first, min(first + chunk, warmup + steps)):
                t0 = time.perf_counter()
                steppers[name](i)
                times[name].append(time.perf_counter() - t0)
    return {name: float(np.median(t)) for name, t in times.items()}


def torch_adam(torch, params):
    """PyTorch's Adam set as pyconv's Adam(LR): Keras's epsilon, 1e-7."""
    return torch.optim.Adam(params, lr=LR, eps=1e-7)


def torch_stepper(torch, net, x, y, optimizer=None):
    """step(i): one PyTorch training step of net on batch i of the (N, 28, 28, 1)
    images x and labels y: the standard loop (zero_grad, forward, loss,
    backward, optimizer step, loss.item()). The optimizer defaults to a new
    torch_adam over all of net's parameters; pass one to keep its moments from
    an earlier stepper (another epoch's data) or to give it parameter groups."""
    net.train()
    opt = optimizer if optimizer is not None else torch_adam(torch, net.parameters())
    loss_fn = torch.nn.CrossEntropyLoss()
    xt = torch.from_numpy(x.reshape(-1, 1, 28, 28))  # C == 1: NHWC bytes == NCHW bytes
    yt = torch.from_numpy(y.astype(np.int64))

    def step(i):
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(xt[i * BATCH:(i + 1) * BATCH]), yt[i * BATCH:(i + 1) * BATCH])
        loss.backward()
        opt.step()
        return loss.item()

    return step


def _bench_model(name, settings, torch, x, y):
    pyconv.set_seed(0)
    model = models.pyconv_model(name)
    model.compile(optimizer=pyconv.optimizers.Adam(LR),
                  loss="sparse_categorical_crossentropy")

    def py_step(i):
        model.train_on_batch(x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH])

    steppers = {"pyconv train_on_batch": py_step}
    if torch is not None:
        torch.manual_seed(0)
        net = models.torch_model(torch, name)
        models.copy_weights(torch, model, net)  # both start from the same weights
        steppers["PyTorch"] = torch_stepper(torch, net, x, y)

    result = _step_times(steppers, settings)
    n_fit = settings.train_steps * BATCH
    t0 = time.perf_counter()
    model.fit(x[:n_fit], y[:n_fit], batch_size=BATCH, epochs=1, verbose=0, shuffle=False)
    result["pyconv fit"] = (time.perf_counter() - t0) / settings.train_steps
    return result


def run(settings, fw):
    torch = fw.torch
    x_all, y_all, data_note = load_images()
    need = (settings.train_warmup + settings.train_steps) * BATCH
    x = pyconv.data.normalize(x_all[:need]).reshape(-1, 28, 28, 1)
    y = np.ascontiguousarray(y_all[:need])

    rows, targets = [], []
    for name, goal in TARGETS.items():
        res = _bench_model(name, settings, torch, x, y)
        theirs = res.get("PyTorch")
        for impl in ("pyconv train_on_batch", "pyconv fit", "PyTorch"):
            if impl not in res:
                continue
            t = res[impl]
            rows.append([models.NAMES[name], impl, ms(t), f"{BATCH / t:.0f}",
                         "-" if impl == "PyTorch" else ratio(t, theirs)])
        mine = res["pyconv train_on_batch"]
        if theirs is None:
            measured, ok = f"{ms(mine)} ms/step; {TORCH_INSTALL}", None
        else:
            measured = f"{ratio(mine, theirs)} ({ms(mine)} vs {ms(theirs)} ms/step)"
            ok = mine / theirs <= goal
        targets.append({"name": f"train step {models.NAMES[name]}",
                        "goal": f"<= {goal:.2f}x PyTorch", "measured": measured, "ok": ok})

    notes = [f"data: {data_note} ({len(x_all)} images, first {need} used); batch {BATCH}, "
             f"Adam({LR:g}), sparse categorical cross-entropy; {settings.train_warmup} warm-up "
             f"steps, then the median of {settings.train_steps} timed steps (pyconv and PyTorch "
             f"taking turns in {settings.rounds} chunks).",
             "ratio = pyconv ms/step / PyTorch ms/step (< 1: pyconv faster). 'pyconv fit' = "
             f"one fit() call over {settings.train_steps} batches / {settings.train_steps} "
             "(a mean, not a median: what a fit() user sees)."]
    if torch is None:
        notes.insert(0, TORCH_INSTALL)
    return {"tables": [{"title": "Training (ms per step and images/s)",
                        "columns": ["model", "implementation", "ms/step", "images/s",
                                    "ratio vs PyTorch"],
                        "rows": rows, "notes": notes}],
            "targets": targets}

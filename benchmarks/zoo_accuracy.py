"""Accuracy and training time of the model zoo (pyconv.applications), pyconv
beside the PyTorch twins, in one run.

    python benchmarks/zoo_accuracy.py                          # every model, 1 epoch
    python benchmarks/zoo_accuracy.py --epochs 5 --markdown    # a table for a README
    python benchmarks/zoo_accuracy.py --train-samples 2000 --models lenet5,unet

Classifiers: Fashion-MNIST (the first --train-samples training images, all
10,000 test images), batch 64, Adam(1e-3), sparse categorical cross-entropy,
--epochs epochs. pyconv trains with model.fit; its twin (zoo_twins.py) starts
from pyconv's initial weights and trains with bench_train's PyTorch loop on the
same batches in the same order (one shuffle per epoch, shared), on the same
number of threads; the two take turns epoch by epoch. Reported: test accuracy
after the last epoch and seconds per training epoch (the mean over epochs).

Segmenters: "Where's Waldo" canvases (pyconv.datasets.waldo: 48x48 canvases of
bundled MNIST digits, the target the digit 3) as in
examples/python/segment_waldo.py: --canvases training canvases, 300 test
canvases of held-out digits, Adam(3e-3), batch 32, binary cross-entropy, the
same --epochs. Reported: mean IoU (target and background) and the target's
IoU on the test canvases, and seconds per epoch. pyconv only: no twins.

Everything printed was measured in this run; nothing is carried over.
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import timing  # noqa: E402  (no numpy inside: safe before thread_env)
from run import emit, format_table, progress  # noqa: E402

SEG_SIZE = (48, 48)
SEG_TARGET = 3       # the digit to find
SEG_TEST = 300       # test canvases
SEG_LR, SEG_BATCH = 3e-3, 32  # examples/python/segment_waldo.py's settings
# Test images per predict call. Larger batches were slower for both frameworks
# (batch 500: caches overflow, and pyconv gives an inference context above 256
# MiB back after every call, so it is allocated again each time).
EVAL_BATCH = 64


def parse_args(argv=None):
    """The options; the model names are checked in main, once pyconv may be
    imported (after the thread variables are set)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    p.add_argument("--train-samples", type=int, default=60000,
                   help="Fashion-MNIST training images used (default: all 60,000)")
    p.add_argument("--canvases", type=int, default=1200,
                   help="training canvases for the segmenters (default 1200)")
    p.add_argument("--models", default="",
                   help="comma-separated subset of pyconv.applications' CLASSIFIERS and "
                        "SEGMENTERS (default: all)")
    p.add_argument("--threads", type=int, default=2,
                   help="threads for pyconv, PyTorch and NumPy (default 2)")
    p.add_argument("--markdown", action="store_true", help="print the tables as Markdown")
    args = p.parse_args(argv)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    for name in ("epochs", "train_samples", "canvases", "threads"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    return args


# ----- classifiers -----------------------------------------------------------------

def _torch_accuracy(torch, net, x, y):
    net.eval()  # dropout off, batch normalization on its moving statistics
    with torch.inference_mode():
        xt = torch.from_numpy(x.reshape(-1, 1, 28, 28))  # C == 1: NHWC bytes == NCHW bytes
        hits = sum(int((net(xt[i:i + EVAL_BATCH]).argmax(1).numpy() == y[i:i + EVAL_BATCH])
                       .sum()) for i in range(0, len(x), EVAL_BATCH))
    return hits / len(x)


def _twin(torch, model, name, x):
    """The PyTorch twin holding pyconv's initial weights, its optimizer, and the
    check column: does it compute what pyconv computes on x before training?"""
    from bench_train import torch_adam
    from bench_zoo import MAX_DIFF
    from zoo_twins import copy_weights, count_like_keras, output_diff, param_groups, twin
    torch.manual_seed(0)  # the twins' dropout masks
    net = twin(torch, name)
    if count_like_keras(net) != model.count_params():
        raise AssertionError(f"{name}: the PyTorch twin has {count_like_keras(net)} "
                             f"parameters, pyconv's model {model.count_params()}")
    regularized = copy_weights(torch, model, net)
    diff = output_diff(torch, model, net, x)
    check = "ok" if diff < MAX_DIFF else f"DIFF {diff:.1e}"
    return net, torch_adam(torch, param_groups(net, regularized)), check


def classify(name, data, epochs, torch):
    """{framework: (test accuracy, seconds per epoch)} and the twin check."""
    import numpy as np
    import pyconv
    from bench_train import BATCH, LR, torch_stepper
    x, y, x_test, y_test = data
    pyconv.set_seed(0)
    model = pyconv.applications.CLASSIFIERS[name](input_shape=(28, 28, 1), num_classes=10)
    model.compile(pyconv.optimizers.Adam(LR), "sparse_categorical_crossentropy")
    check, net = "-", None
    if torch is not None:
        net, opt, check = _twin(torch, model, name, x_test[:BATCH])
    seconds = {"pyconv": 0.0, "PyTorch": 0.0}
    rng = np.random.default_rng(0)
    steps = -(-len(x) // BATCH)
    for epoch in range(epochs):
        # One shuffle for both, so both see the same batches in the same order.
        order = rng.permutation(len(x))
        xe, ye = x[order], y[order]
        turns = ["pyconv", "PyTorch"] if net is not None else ["pyconv"]
        for fw in turns if epoch % 2 == 0 else turns[::-1]:
            if fw == "pyconv":
                t0 = time.perf_counter()
                model.fit(xe, ye, batch_size=BATCH, epochs=1, shuffle=False, verbose=0)
            else:
                step = torch_stepper(torch, net, xe, ye, opt)  # opt keeps Adam's moments
                t0 = time.perf_counter()
                for i in range(steps):
                    step(i)
            seconds[fw] += time.perf_counter() - t0
    predicted = model.predict(x_test, batch_size=EVAL_BATCH, verbose=0).argmax(1)
    result = {"pyconv": (float((predicted == y_test).mean()), seconds["pyconv"] / epochs)}
    if net is not None:
        result["PyTorch"] = (_torch_accuracy(torch, net, x_test, y_test),
                             seconds["PyTorch"] / epochs)
    return result, check


def classifier_table(names, args, torch):
    import numpy as np
    import pyconv
    from bench_train import load_images
    x, y, note = load_images("train")
    x_test, y_test, test_note = load_images("test")
    x = pyconv.data.normalize(x[:args.train_samples]).reshape(-1, 28, 28, 1)
    y = np.ascontiguousarray(y[:args.train_samples])
    x_test = pyconv.data.normalize(x_test).reshape(-1, 28, 28, 1)
    rows, meter = [], timing.BusyMeter()
    for name in names:
        progress(f"{name} ...")
        t0 = time.perf_counter()
        res, check = classify(name, (x, y, x_test, y_test), args.epochs, torch)
        (acc, secs), theirs = res["pyconv"], res.get("PyTorch")
        rows.append([name, f"{acc:.4f}", f"{theirs[0]:.4f}" if theirs else "-", f"{secs:.1f}",
                     f"{theirs[1]:.1f}" if theirs else "-",
                     timing.ratio(secs, theirs[1]) if theirs else "-", check])
        progress(f"{name} done in {time.perf_counter() - t0:.0f} s")
    notes = [f"data: {note}, first {len(x)} images; test: {test_note}, {len(x_test)} images. "
             f"{args.epochs} epoch(s), batch 64, Adam(0.001), one shuffle per epoch shared by "
             "both frameworks; the two take turns epoch by epoch.",
             "pyconv: model.fit, one call per epoch. PyTorch: the twin (benchmarks/zoo_twins.py, "
             "starting from pyconv's initial weights; the ResNets' L2 kernel penalties as "
             "weight decay) trained by bench_train's loop (zero_grad, forward, loss, backward, "
             "step, loss.item()).",
             "accuracy: the test set after the last epoch (PyTorch in eval mode). s/epoch: "
             "training only, the mean over the epochs. ratio = pyconv s/epoch / PyTorch "
             "s/epoch (< 1: pyconv faster). check: the twin's softmax within 1e-4 of pyconv's "
             "predictions before training."]
    if torch is None:
        notes.insert(0, timing.TORCH_INSTALL)
    notes.append(_load_note(meter))
    return {"title": f"Model zoo: Fashion-MNIST test accuracy after {args.epochs} epoch(s)",
            "columns": ["model", "pyconv acc", "PyTorch acc", "pyconv s/epoch",
                        "PyTorch s/epoch", "ratio", "check"],
            "rows": rows, "notes": notes}


# ----- segmenters ------------------------------------------------------------------

def segment(name, canvases, epochs):
    """(mean IoU, target IoU, seconds per epoch, parameters) of pyconv's model."""
    import pyconv
    train, masks, test, test_masks = canvases
    pyconv.set_seed(0)
    model = pyconv.applications.SEGMENTERS[name](input_shape=SEG_SIZE + (1,))
    model.compile(pyconv.optimizers.Adam(SEG_LR), "binary_crossentropy")
    t0 = time.perf_counter()
    model.fit(train, masks, epochs=epochs, batch_size=SEG_BATCH, verbose=0)
    seconds = (time.perf_counter() - t0) / epochs
    predicted = model.predict(test, verbose=0)
    waldo = pyconv.datasets.waldo
    return (waldo.mean_iou(test_masks, predicted), waldo.foreground_iou(test_masks, predicted),
            seconds, model.count_params())


def segmenter_table(names, args):
    import pyconv
    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=3000)
    waldo = pyconv.datasets.waldo
    train, masks = waldo.make_canvases(x, y, SEG_TARGET, args.canvases, size=SEG_SIZE, seed=0)
    test, test_masks = waldo.make_canvases(x_test, y_test, SEG_TARGET, SEG_TEST, size=SEG_SIZE,
                                           seed=1)
    rows, meter = [], timing.BusyMeter()
    for name in names:
        progress(f"{name} ...")
        iou, found, secs, params = segment(name, (train, masks, test, test_masks), args.epochs)
        rows.append([name, f"{params:,}", f"{iou:.3f}", f"{found:.3f}", f"{secs:.1f}"])
    notes = [f"data: {args.canvases} training and {SEG_TEST} test canvases of "
             f"{SEG_SIZE[0]}x{SEG_SIZE[1]} pixels (pyconv.datasets.waldo, bundled MNIST sample; "
             f"test canvases from held-out digits), target: the digit {SEG_TARGET}. "
             f"{args.epochs} epoch(s), batch {SEG_BATCH}, Adam({SEG_LR:g}), binary "
             "cross-entropy, sigmoid output thresholded at 0.5.",
             "mean IoU: the mean of the target's and the background's IoU (predicting nothing "
             "scores about 0.5); target IoU: the target pixels alone (0 when nothing is "
             "found). s/epoch: model.fit time / epochs. pyconv only."]
    notes.append(_load_note(meter))
    return {"title": f"Model zoo: Where's Waldo segmentation after {args.epochs} epoch(s)",
            "columns": ["model", "parameters", "mean IoU", "target IoU", "s/epoch"],
            "rows": rows, "notes": notes}


# ----- main ------------------------------------------------------------------------

def _load_note(meter):
    other = meter.other_cores()
    if other is None:
        return "machine load: unknown (no /proc/stat)"
    line = f"machine load: other processes kept {other:.1f} of {os.cpu_count()} cores busy"
    return line + (" -- WARNING: times unreliable, rerun when the machine is quiet"
                   if other > 0.25 else "")


def main(argv=None):
    args = parse_args(argv)
    timing.thread_env(args.threads)  # before numpy / torch / pyconv load their thread pools
    started = time.perf_counter()
    torch, torch_msg = timing.load_torch()
    threads = timing.apply_threads(args.threads, torch)
    import pyconv
    known = [*pyconv.applications.CLASSIFIERS, *pyconv.applications.SEGMENTERS]
    args.models = args.models or known
    unknown = [m for m in args.models if m not in known]
    if unknown:
        sys.exit(f"zoo_accuracy.py: error: --models takes names from {','.join(known)}, "
                 f"received {','.join(unknown)}")
    emit(f"pyconv {pyconv.__version__}; {torch_msg}; threads: "
         + ", ".join(f"{k} {v}" for k, v in threads.items()) + "\n")
    if torch is None:
        emit(timing.TORCH_INSTALL + " -- printing pyconv's numbers only.\n")
    classifiers = [m for m in args.models if m in pyconv.applications.CLASSIFIERS]
    segmenters = [m for m in args.models if m in pyconv.applications.SEGMENTERS]
    if classifiers:
        emit(format_table(classifier_table(classifiers, args, torch), args.markdown))
    if segmenters:
        emit(format_table(segmenter_table(segmenters, args), args.markdown))
    emit(f"total time: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()

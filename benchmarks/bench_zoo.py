"""Training step time of the model zoo (pyconv.applications) on Fashion-MNIST
28x28 digits, batch 64, Adam(1e-3): pyconv against a PyTorch twin of each
architecture (benchmarks/zoo_twins.py), taking turns step by step. The goal
(issue 11): pyconv's step faster than PyTorch's on every zoo model. Each twin
must have pyconv's parameter count before anything is timed; it starts from
pyconv's weights (copied layer by layer), its softmax must match pyconv's
predictions on the first batch, and it applies pyconv's L2 kernel penalties
(ResNets) as weight decay."""

import numpy as np

import pyconv
from bench_train import BATCH, LR, _step_times, load_images, torch_adam, torch_stepper
from timing import TORCH_INSTALL, ms, ratio
from zoo_twins import copy_weights, count_like_keras, output_diff, param_groups, twin

MODELS = ("lenet5", "alexnet", "vgg", "inception", "resnet20", "densenet", "se_resnet20",
          "mobilenet", "efficientnet")
MAX_DIFF = 1e-4  # largest |softmax difference| for a twin that computes what pyconv does


def _steppers(name, torch, x, y):
    pyconv.set_seed(0)
    model = pyconv.applications.CLASSIFIERS[name](input_shape=(28, 28, 1), num_classes=10)
    model.compile(pyconv.optimizers.Adam(LR), "sparse_categorical_crossentropy")

    def py_step(i):
        model.train_on_batch(x[i * BATCH:(i + 1) * BATCH], y[i * BATCH:(i + 1) * BATCH])

    steppers = {"pyconv": py_step}
    if torch is None:
        return steppers, None, "-"
    net = twin(torch, name)
    if count_like_keras(net) != model.count_params():
        raise AssertionError(f"{name}: the PyTorch twin has {count_like_keras(net)} "
                             f"parameters, pyconv's model {model.count_params()}")
    regularized = copy_weights(torch, model, net)  # raises if the layers do not pair up
    diff = output_diff(torch, model, net, x[:BATCH])  # before either has trained
    check = "ok" if diff < MAX_DIFF else f"DIFF {diff:.1e}"
    opt = torch_adam(torch, param_groups(net, regularized))
    steppers["PyTorch"] = torch_stepper(torch, net, x, y, opt)
    return steppers, model.count_params(), check


def run(settings, fw):
    x_all, y_all, data_note = load_images()
    need = (settings.train_warmup + settings.train_steps) * BATCH
    x = pyconv.data.normalize(x_all[:need]).reshape(-1, 28, 28, 1)
    y = np.ascontiguousarray(y_all[:need])
    rows, targets = [], []
    for name in MODELS:
        steppers, params, check = _steppers(name, fw.torch, x, y)
        res = _step_times(steppers, settings)
        mine, theirs = res["pyconv"], res.get("PyTorch")
        rows.append([name, f"{params:,}" if params else "-", ms(mine),
                     ms(theirs) if theirs else "-", ratio(mine, theirs) if theirs else "-",
                     check])
        targets.append({"name": f"zoo train step {name}", "goal": "< 1.00x PyTorch",
                         "measured": (f"{ratio(mine, theirs)} ({ms(mine)} vs {ms(theirs)} ms)"
                                      if theirs else TORCH_INSTALL),
                         "ok": None if theirs is None else mine < theirs})
    notes = [f"data: {data_note}; batch {BATCH}, Adam({LR:g}); {settings.train_warmup} "
             f"warm-up steps, then the median of {settings.train_steps} timed steps, taking "
             f"turns in {settings.rounds} chunks.",
             "PyTorch twins: benchmarks/zoo_twins.py (parameter counts checked equal, batch "
             "normalization's running statistics counted as Keras counts them); each starts "
             "from pyconv's initial weights. check: the twin's softmax on the first batch "
             f"within {MAX_DIFF:g} of pyconv's predictions (else DIFF and the largest "
             "difference)."]
    return {"tables": [{"title": "Model zoo: training step (ms, batch 64)",
                        "columns": ["model", "parameters", "pyconv ms", "PyTorch ms",
                                    "ratio", "check"],
                        "rows": rows, "notes": notes}],
            "targets": targets}

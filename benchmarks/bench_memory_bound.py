"""Memory-bound passes against memory bandwidth: each pass's forward and
backward time inside a training step (pyconv.profile: C++ time, no Python
boundary), as GB/s of the tensors it reads and writes, beside a copy of a
buffer as large as the pass's input in the same run.

  - Activation (relu, tanh), MaxPooling2D and AveragePooling2D (2x2),
    Dropout(0.5), BatchNormalization, Add (a residual merge), Flatten, on a
    (64, 56, 56, 32) batch (25.7 MB a tensor); the optimizer update (Adam) on
    a Dense layer's 4.2 M weights.
  - Bytes counted: forward, input read + output written; backward, output
    gradient read + input gradients written (masks and indices not counted;
    an element-wise layer writes its input's gradient over its output's, and
    Add's first input takes the output's gradient as it is).
  - memcpy: numpy.copyto of the input's bytes (one thread) and torch's clone
    (its own threads), read + write.
  Goal (issue 14): every pass at >= 70% of the copy's GB/s.

    python benchmarks/bench_memory_bound.py [--quick] [--threads 2]
"""

import numpy as np

import pyconv
from pyconv import layers as L
from timing import compare, standalone

SHAPE = (64, 56, 56, 32)
PASSES = [
    ("relu", lambda: L.Activation("relu")),
    ("tanh", lambda: L.Activation("tanh")),
    ("MaxPooling2D 2x2", lambda: L.MaxPooling2D(2)),
    ("AveragePooling2D 2x2", lambda: L.AveragePooling2D(2)),
    ("Dropout(0.5)", lambda: L.Dropout(0.5)),
    ("BatchNormalization", lambda: L.BatchNormalization()),
    ("Flatten", lambda: L.Flatten()),
]


def profiled_steps(model, x, y, steps):
    """pyconv.profile's report over `steps` training steps (after 3 untimed)."""
    for _ in range(3):
        model.train_on_batch(x, y)
    with pyconv.profile(model) as report:
        for _ in range(steps):
            model.train_on_batch(x, y)
    return report


def layer_times(make, x, steps):
    """(forward ms, backward ms, output elements) of the layer under test in
    a training step: a trainable 1x1 convolution in front (so a gradient
    flows to it) and a Dense(1) behind."""
    inp = pyconv.Input(x.shape[1:])
    front = L.Conv2D(x.shape[-1], 1, name="front")(inp)
    layer = make()
    mid = layer(front)
    out = L.Dense(1, name="back")(L.GlobalAveragePooling2D()(mid) if len(mid.shape) == 4
                                  else mid)
    model = pyconv.Model(inp, out)
    model.compile(pyconv.optimizers.SGD(1e-6), "mse")  # small steps: nothing diverges
    report = profiled_steps(model, x, np.zeros((len(x), 1), np.float32), steps)
    row = next(r for r in report.rows if r["layer"] == layer.name)
    return (row["forward_ms"] / steps, row["backward_ms"] / steps,
            int(np.prod(mid.shape[1:])) * len(x))


def residual_add_times(x, steps):
    inp = pyconv.Input(x.shape[1:])
    a = L.Conv2D(x.shape[-1], 1, name="a")(inp)
    b = L.Conv2D(x.shape[-1], 1, name="b")(inp)
    merged = L.Add(name="add")([a, b])
    model = pyconv.Model(inp, L.Dense(1)(L.GlobalAveragePooling2D()(merged)))
    model.compile(pyconv.optimizers.SGD(1e-6), "mse")
    report = profiled_steps(model, x, np.zeros((len(x), 1), np.float32), steps)
    row = next(r for r in report.rows if r["layer"] == "add")
    return row["forward_ms"] / steps, row["backward_ms"] / steps


def adam_update_times(steps):
    model = pyconv.Sequential([pyconv.Input((2048,)), L.Dense(2048)])
    model.compile(pyconv.optimizers.Adam(1e-3), "mse")
    x = np.random.default_rng(0).standard_normal((8, 2048)).astype(np.float32)
    report = profiled_steps(model, x, np.zeros((8, 2048), np.float32), steps)
    return report.step["update"]["ms"] / steps, model.count_params()


def main():
    args, settings, torch = standalone(__doc__)
    steps = 5 if args.quick else 20
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    copies = {"numpy copyto": lambda b=np.empty_like(x): np.copyto(b, x)}
    if torch is not None:
        xt = torch.from_numpy(x)
        copies["torch clone"] = lambda: xt.clone()
    best_copy = 0.0
    print(f"\n{'copy of ' + str(x.nbytes // 10**6) + ' MB':<26} {'ms':>8} {'GB/s':>7}")
    for name, m in compare(copies, settings).items():
        gbps = 2 * x.nbytes / m.median / 1e9
        best_copy = max(best_copy, gbps)
        print(f"{name:<26} {m.median * 1e3:8.3f} {gbps:7.1f}")
    print(f"\nIn a training step on {SHAPE} (ms; GB/s; % of the best copy)")
    print(f"{'pass':<26} {'forward':>8} {'GB/s':>7} {'%':>5} {'backward':>9} {'GB/s':>7} {'%':>5}")

    def line(name, fwd, bwd, fwd_bytes, bwd_bytes):
        cells = []
        for t, b in ((fwd, fwd_bytes), (bwd, bwd_bytes)):
            if t < 0.01:  # no pass of its own: Flatten's gradient is written in place,
                # MaxPooling2D runs inside the convolution in front
                cells.append(f"{t:8.3f} {'-':>7} {'-':>5}")
                continue
            g = b / (t / 1e3) / 1e9
            cells.append(f"{t:8.3f} {g:7.1f} {100 * g / best_copy:5.0f}")
        print(f"{name:<26} {cells[0]} {' ' + cells[1]}")

    for name, make in PASSES:
        fwd, bwd, out_elems = layer_times(make, x, steps)
        moved = (x.size + out_elems) * 4
        line(name, fwd, bwd, moved, moved)
    fwd, bwd = residual_add_times(x, steps)
    # Backward: the first input's gradient is the output's, in place.
    line("Add (two inputs)", fwd, bwd, 3 * x.nbytes, 2 * x.nbytes)
    update, params = adam_update_times(steps)
    # Adam reads the weight, gradient and two moments and writes three.
    moved = 7 * 4 * params
    g = moved / (update / 1e3) / 1e9
    print(f"{'Adam update, ' + format(params, ',') + ' weights':<26} {update:8.3f} {g:7.1f} "
          f"{100 * g / best_copy:5.0f}")


if __name__ == "__main__":
    main()

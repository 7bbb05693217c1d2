"""Element-wise activations at memory speed: pyconv's predict on an
activation-only model against the PyTorch function on the same array, and
both against a copy of the same bytes, in one run.

  - For each activation, a Sequential([Input, Activation(name)]) and
    predict_on_batch on a (64, 28, 28, 32) float32 batch (6.4 MB in, 6.4 MB
    out): that includes the input's finiteness check and the Python boundary.
  - The PyTorch function (torch.relu, torch.tanh, ...) on the same array.
  - memcpy: numpy.copyto of the same bytes into a preallocated array (one
    thread) and torch's clone (PyTorch's own threads), the bandwidth yardstick.
  Printed: medians, GB/s (bytes read + written / time), pyconv / PyTorch.
  Goals (issue 14): every activation at most PyTorch's time; relu within
  1.2x of PyTorch's.

    python benchmarks/bench_activations.py [--quick] [--threads 2]
"""


import numpy as np

import pyconv

from timing import compare, standalone

SHAPE = (64, 28, 28, 32)
ACTIVATIONS = ["relu", "tanh", "sigmoid", "swish", "gelu", "elu", "selu", "softplus",
               "leaky_relu", "relu6", "hard_sigmoid"]


def torch_function(torch, name):
    F = torch.nn.functional
    return {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "swish": F.silu,
            "gelu": F.gelu, "elu": F.elu, "selu": F.selu, "softplus": F.softplus,
            "leaky_relu": lambda t: F.leaky_relu(t, 0.2), "relu6": F.relu6,
            "hard_sigmoid": lambda t: F.hardtanh(t / 6 + 0.5, 0, 1)}[name]


def main():
    args, settings, torch = standalone(__doc__)
    x = np.random.default_rng(0).standard_normal(SHAPE).astype(np.float32)
    moved = 2 * x.nbytes  # read and written
    gbps = lambda seconds: f"{moved / seconds / 1e9:6.1f}"
    copy_cases = {"numpy copyto": lambda b=np.empty_like(x): np.copyto(b, x)}
    if torch is not None:
        xt = torch.from_numpy(x)
        copy_cases["torch clone"] = lambda: xt.clone()
    copies = compare(copy_cases, settings)
    print(f"\n{'copy of the same bytes':<24} {'ms':>7} {'GB/s':>6}")
    for name, m in copies.items():
        print(f"{name:<24} {m.median * 1e3:7.3f} {gbps(m.median)}")
    print(f"\nActivation on {SHAPE} float32 (median ms, GB/s; ratio = pyconv / PyTorch)")
    print(f"{'activation':<13} {'pyconv':>8} {'GB/s':>6} {'PyTorch':>8} {'GB/s':>6} {'ratio':>6}")
    for name in ACTIVATIONS:
        model = pyconv.Sequential([pyconv.Input(SHAPE[1:]), pyconv.layers.Activation(name)])
        model.build()
        cases = {"pyconv": lambda m=model: m.predict_on_batch(x)}
        if torch is not None:
            f = torch_function(torch, name)
            cases["torch"] = lambda f=f: f(xt)
            np.testing.assert_allclose(model.predict_on_batch(x), f(xt).numpy(), rtol=1e-5,
                                       atol=1e-5, err_msg=name)
        t = compare(cases, settings)
        mine = t["pyconv"].median
        line = f"{name:<13} {mine * 1e3:8.3f} {gbps(mine)}"
        if torch is not None:
            theirs = t["torch"].median
            line += f" {theirs * 1e3:8.3f} {gbps(theirs)} {mine / theirs:6.2f}"
        print(line)


if __name__ == "__main__":
    main()

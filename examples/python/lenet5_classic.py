"""LeNet-5 as LeCun et al. (1998) trained it: tanh units, average pooling, and
the Euclidean (MSE) loss against one-hot targets, with L2 weight decay.

Trains on the MNIST digits shipped with pyconv, prints the test accuracy, and
with --plot DIR writes the learned first-layer filters and the loss curves.

    python examples/python/lenet5_classic.py [--epochs 8] [--plot out/]
"""

import argparse
import os

import numpy as np

import pyconv
from pyconv import layers as L


def lenet5_mse(weight_decay):
    """pyconv.applications.lenet5 with an L2 penalty on every kernel and
    linear outputs (the MSE loss compares them with one-hot targets)."""
    reg = pyconv.regularizers.l2(weight_decay)
    return pyconv.Sequential([
        pyconv.Input((28, 28, 1)),
        L.Conv2D(6, 5, padding="same", activation="tanh", kernel_regularizer=reg, name="c1"),
        L.AveragePooling2D(2),
        L.Conv2D(16, 5, activation="tanh", kernel_regularizer=reg, name="c3"),
        L.AveragePooling2D(2),
        L.Flatten(),
        L.Dense(120, activation="tanh", kernel_regularizer=reg),
        L.Dense(84, activation="tanh", kernel_regularizer=reg),
        L.Dense(10, kernel_regularizer=reg),
    ], name="lenet5_mse")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--weight-decay", type=float, default=1e-5)
    parser.add_argument("--plot", help="directory for filters.png and history.png")
    args = parser.parse_args()

    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=2000)
    x, x_test = pyconv.data.normalize(x), pyconv.data.normalize(x_test)
    one_hot = np.eye(10, dtype=np.float32)
    pyconv.set_seed(0)
    model = lenet5_mse(args.weight_decay)
    model.compile(pyconv.optimizers.SGD(0.05, momentum=0.9), "mse")
    history = model.fit(x, one_hot[y], epochs=args.epochs, batch_size=32,
                        validation_data=(x_test, one_hot[y_test]), verbose=2)
    accuracy = np.mean(model.predict(x_test).argmax(axis=1) == y_test)
    print(f"LeNet-5 (tanh, average pooling, MSE): test accuracy {accuracy:.4f} on "
          f"{len(x_test)} digits")
    if args.plot:
        os.makedirs(args.plot, exist_ok=True)
        pyconv.utils.plot_filters(model.get_layer("c1"), os.path.join(args.plot, "filters.png"))
        pyconv.utils.plot_history(history, os.path.join(args.plot, "history.png"))
        print(f"wrote {args.plot}/filters.png and history.png")


if __name__ == "__main__":
    main()

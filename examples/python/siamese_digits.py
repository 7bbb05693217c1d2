"""A shared layer: one convolutional encoder applied to two digits (a Siamese
network), trained to tell whether they are the same digit. The encoder's
weights are one set, updated by the gradients of both calls.

    python examples/python/siamese_digits.py [--epochs 4] [--pairs 8000]
"""

import argparse

import numpy as np

import pyconv
from pyconv import layers as L


def pairs(x, y, n, rng):
    """n pairs of digits, half of them of the same class."""
    first = rng.integers(0, len(x), n)
    by_class = [np.flatnonzero(y == c) for c in range(10)]
    same = rng.random(n) < 0.5
    second = np.where(same, [rng.choice(by_class[y[i]]) for i in first],
                      rng.integers(0, len(x), n))
    return x[first], x[second], (y[first] == y[second]).astype(np.float32)[:, None]


def siamese():
    encoder = [L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2),
               L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
               L.Flatten(), L.Dense(32, activation="relu")]
    a, b = pyconv.Input((28, 28, 1), name="left"), pyconv.Input((28, 28, 1), name="right")
    ea, eb = a, b
    for layer in encoder:  # each layer called on both inputs: shared weights
        ea, eb = layer(ea), layer(eb)
    distance = L.Multiply()([L.Subtract()([ea, eb]), L.Subtract()([ea, eb])])
    same = L.Dense(1, activation="sigmoid", name="same")(distance)
    return pyconv.Model([a, b], same, name="siamese")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=8000)
    args = parser.parse_args()

    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=2000)
    x, x_test = pyconv.data.normalize(x)[..., None], pyconv.data.normalize(x_test)[..., None]
    rng = np.random.default_rng(0)
    left, right, same = pairs(x, y, args.pairs, rng)
    t_left, t_right, t_same = pairs(x_test, y_test, 2000, rng)
    pyconv.set_seed(0)
    model = siamese()
    model.summary()
    model.compile(pyconv.optimizers.Adam(1e-3), "binary_crossentropy", metrics=["accuracy"])
    model.fit({"left": left, "right": right}, same, epochs=args.epochs, batch_size=64, verbose=2)
    loss, accuracy = model.evaluate([t_left, t_right], t_same, verbose=0)
    print(f"same digit or not, on pairs of unseen digits: accuracy {accuracy:.4f}")


if __name__ == "__main__":
    main()

"""The main job: train a small CNN on MNIST and print the held-out accuracy.

    python -m pyconv.demo [--epochs N] [--batch-size B] [--threads T]

Uses the full MNIST when it can be found (see pyconv.datasets.mnist.load_data),
else the 10,000 real MNIST digits bundled with the package, split 8,000 for
training and 2,000 held out.
"""

import argparse
import time

import numpy as np

import pyconv
from pyconv import layers
from pyconv.datasets import DatasetNotFoundError, mnist


def load():
    try:
        return mnist.load_data(download=False), "MNIST (60,000 train / 10,000 test)"
    except DatasetNotFoundError:
        return mnist.load_sample(), "bundled MNIST sample (8,000 train / 2,000 held out)"


def build_model():
    return pyconv.Sequential([
        pyconv.Input(shape=(28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Conv2D(32, 3, activation="relu"),
        layers.MaxPooling2D(),
        layers.Flatten(),
        layers.Dropout(0.3),
        layers.Dense(64, activation="relu"),
        layers.Dense(10, activation="softmax"),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=None,
                        help="default: 6 on the bundled sample, 2 on the full MNIST")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=0, help="0: all cores")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    pyconv.set_num_threads(args.threads)
    pyconv.set_seed(args.seed)
    ((x_train, y_train), (x_test, y_test)), source = load()
    full = len(x_train) > 10000
    epochs = args.epochs or (2 if full else 6)
    print(f"data: {source}; threads: {pyconv.get_num_threads()}")
    x_train = pyconv.data.normalize(x_train)[..., np.newaxis]
    x_test = pyconv.data.normalize(x_test)[..., np.newaxis]

    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=epochs)
    train_seconds = time.perf_counter() - start
    loss, accuracy = model.evaluate(x_test, y_test, batch_size=256, verbose=0)
    print(f"trained {epochs} epochs in {train_seconds:.1f} s "
          f"({epochs * len(x_train) / train_seconds:,.0f} images/s)")
    print(f"held-out loss: {loss:.4f}")
    print(f"held-out accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()

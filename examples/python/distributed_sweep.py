"""A hyper-parameter sweep on a cluster (Dask futures or Ray tasks): one
training run per (learning rate, filters) pair, each on one thread with the
same seed; the best model comes back as a pickle and is saved as a .pcv file.
Training the winner again locally gives the same weights, bit for bit.

    python examples/python/distributed_sweep.py [--backend dask|ray] [--workers 2]
                                                [--out best.pcv] [--address ADDRESS]
"""

import argparse
import itertools

import numpy as np

import pyconv
from clusters import BACKENDS
from pyconv import layers as L


def train(data, config):
    """On a worker: one run of the sweep. Returns (config, val accuracy, model)."""
    x, y, x_val, y_val, epochs = data
    learning_rate, filters = config
    pyconv.set_seed(7)
    model = pyconv.Sequential([
        pyconv.Input((28, 28, 1)),
        L.Conv2D(filters, 3, activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dense(10, activation="softmax"),
    ])
    model.compile(pyconv.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, epochs=epochs, batch_size=64, verbose=0)
    accuracy = model.evaluate(x_val, y_val, verbose=0, return_dict=True)["accuracy"]
    return config, accuracy, model


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rates", default="0.0003,0.001,0.003")
    parser.add_argument("--filters", default="4,8")
    parser.add_argument("--out", default="best.pcv")
    parser.add_argument("--address", help="a running cluster's address (default: start one)")
    args = parser.parse_args()

    (x, y), (x_val, y_val) = pyconv.datasets.mnist.load_sample(num_test=2000)
    x, x_val = pyconv.data.normalize(x)[..., None], pyconv.data.normalize(x_val)[..., None]
    configs = list(itertools.product([float(v) for v in args.learning_rates.split(",")],
                                     [int(v) for v in args.filters.split(",")]))
    with BACKENDS[args.backend](workers=args.workers, address=args.address) as cluster:
        data = cluster.put((x, y, x_val, y_val, args.epochs))
        results = cluster.map(train, data, configs)
    for config, accuracy, _ in results:
        print(f"learning rate {config[0]:g}, {config[1]} filters: val accuracy {accuracy:.4f}")
    best_config, best_accuracy, best = max(results, key=lambda r: r[1])
    best.save(args.out)
    print(f"best: learning rate {best_config[0]:g}, {best_config[1]} filters "
          f"({best_accuracy:.4f}), saved to {args.out}")

    # The same run here, on one thread like the workers: the same weights.
    pyconv.set_num_threads(1)
    _, local_accuracy, local = train((x, y, x_val, y_val, args.epochs), best_config)
    saved = pyconv.models.load_model(args.out)
    same = all(np.array_equal(a, b) for a, b in zip(local.get_weights(), saved.get_weights()))
    print(f"local rerun of the best: val accuracy {local_accuracy:.4f}, "
          f"{'identical' if same else 'DIFFERENT'} weights")


if __name__ == "__main__":
    main()

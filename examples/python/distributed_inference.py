"""Batch inference over a large image set on a cluster (Dask or Ray): the
trained model travels to the workers once, as a pickle (its .pcv bytes), the
images in chunks, and the predictions equal those of a local run.

    python examples/python/distributed_inference.py [--backend dask|ray] [--workers 2]
                                                    [--copies 6] [--address ADDRESS]

The image set is the MNIST digits shipped with pyconv (9,999 of them: one is
kept back as load_sample's test set), each copy shifted by a pixel or two,
so that `--copies 6` makes 59,994 different images. Without
--address a local cluster of --workers processes is started (see clusters.py
for a real one).
"""

import argparse
import time

import numpy as np

import pyconv
from clusters import BACKENDS
from pyconv import layers as L


def classify(model, images):
    """On a worker: class probabilities of one chunk."""
    return model.predict(images, batch_size=256, verbose=0)


def train_digit_model(x, y):
    pyconv.set_seed(1)
    model = pyconv.Sequential([
        pyconv.Input((28, 28, 1)),
        L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(2),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
        L.Flatten(), L.Dense(10, activation="softmax"),
    ])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=64, verbose=0)
    return model


def image_set(x, copies, seed=0):
    """`copies` copies of x, each shifted by up to 2 pixels."""
    rng = np.random.default_rng(seed)
    shifted = [np.roll(x, tuple(rng.integers(-2, 3, size=2)), axis=(1, 2)) for _ in range(copies)]
    return np.concatenate(shifted)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="dask")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--copies", type=int, default=6)
    parser.add_argument("--chunk", type=int, default=5000, help="images per task")
    parser.add_argument("--address", help="a running cluster's address (default: start one)")
    args = parser.parse_args()

    (x, y), _ = pyconv.datasets.mnist.load_sample(num_test=2000)
    x = pyconv.data.normalize(x)[..., None]
    model = train_digit_model(x, y)
    everything, _ = pyconv.datasets.mnist.load_sample(num_test=1)
    images = image_set(pyconv.data.normalize(everything[0])[..., None], args.copies)
    chunks = [images[i:i + args.chunk] for i in range(0, len(images), args.chunk)]
    print(f"{len(images)} images in {len(chunks)} chunks, {args.backend}, "
          f"{'cluster at ' + args.address if args.address else f'{args.workers} local workers'}")

    with BACKENDS[args.backend](workers=args.workers, address=args.address) as cluster:
        shared = cluster.put(model)
        cluster.map(classify, shared, chunks[:1])  # workers warm: imports and the first call
        start = time.perf_counter()
        probs = np.concatenate(cluster.map(classify, shared, chunks))
        seconds = time.perf_counter() - start
    print(f"cluster: {len(images) / seconds:,.0f} images/s")

    local = model.predict(images, batch_size=256, verbose=0)
    same = np.mean(local.argmax(1) == probs.argmax(1))
    print(f"same class as a local run for {same:.2%} of the images; "
          f"largest probability difference {np.abs(local - probs).max():.1e}")


if __name__ == "__main__":
    main()

"""Data augmentation as preprocessing layers, measured: what it costs a training
step, and what it buys on digits that are not centred and upright.

  - Step cost: the Keras MNIST CNN (batch 128) and LeNet-5 (batch 64) of
    benchmarks/models.py, Adam, train_on_batch, with and without
    RandomRotation(0.05) - RandomTranslation(0.1, 0.1) - RandomZoom(0.1) in
    front, timed interleaved (timing.compare), medians and the ratio. The
    augmentation runs in the C++ step; goal: at most 1.10x.
  - Accuracy: the Keras MNIST CNN trained on the 8,000 MNIST training digits
    of pyconv.datasets.mnist.load_sample, with and without those layers, the
    same seed and epochs, then tested on the 2,000 held-out digits as they
    are, and moved: each shifted by up to 4 pixels and rotated by up to 25
    degrees with SciPy (not pyconv's code), the same moved set for both.

    python benchmarks/bench_augmentation.py [--quick] [--threads 2] [--epochs 8]
"""

import argparse

import numpy as np

import pyconv
import models
from pyconv import layers as L
from timing import Settings, apply_threads, compare, ms

GOAL_STEP_RATIO = 1.10


def augmentation():
    return [L.RandomRotation(0.05), L.RandomTranslation(0.1, 0.1), L.RandomZoom(0.1)]


def with_augmentation(name):
    """The benchmark model with the augmentation layers in front (same layers after)."""
    plain = models.pyconv_model(name)
    body = [type(l).from_config(l.get_config()) for l in plain.layers]
    model = pyconv.Sequential([pyconv.Input((28, 28, 1))] + augmentation() + body)
    model.build()
    return model


def step_cost(settings):
    rng = np.random.default_rng(0)
    print("\nTraining step, with and without augmentation (median ms)")
    print(f"{'model':<18} {'batch':>5} {'plain':>9} {'augmented':>10} {'ratio':>7}")
    for name, batch in (("keras_cnn", 128), ("lenet5", 64)):
        x = rng.uniform(0, 1, (batch, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, batch)
        cases = {}
        for label, model in (("plain", models.pyconv_model(name)),
                             ("augmented", with_augmentation(name))):
            model.compile("adam", "sparse_categorical_crossentropy")
            cases[label] = lambda m=model: m.train_on_batch(x, y)
        times = compare(cases, settings)
        plain, augmented = times["plain"].median, times["augmented"].median
        print(f"{models.NAMES[name]:<18} {batch:>5} {ms(plain):>9} {ms(augmented):>10} "
              f"{augmented / plain:>6.3f}x  (goal <= {GOAL_STEP_RATIO:.2f}x)")


def moved(x, rng):
    """Each digit shifted by up to 4 pixels and rotated by up to 25 degrees (SciPy)."""
    from scipy import ndimage

    out = np.empty_like(x)
    for i, image in enumerate(x[..., 0]):
        turned = ndimage.rotate(image, rng.uniform(-25, 25), reshape=False, order=1)
        out[i, ..., 0] = ndimage.shift(turned, rng.integers(-4, 5, size=2), order=0)
    return out


def accuracy(epochs):
    (x, y), (xt, yt) = pyconv.datasets.mnist.load_sample()
    x = pyconv.data.normalize(x)[..., None]
    xt = pyconv.data.normalize(xt)[..., None]
    xt_moved = moved(xt, np.random.default_rng(1))
    print(f"\nKeras MNIST CNN, {len(x)} training digits, {epochs} epochs, batch 128: "
          f"test accuracy (%) on {len(xt)} held-out digits")
    print(f"{'trained':<22} {'as they are':>12} {'shifted+rotated':>16}")
    for label, make in (("without augmentation", lambda: models.pyconv_model("keras_cnn")),
                        ("with augmentation", lambda: with_augmentation("keras_cnn"))):
        pyconv.set_seed(0)
        model = make()
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x, y, batch_size=128, epochs=epochs, verbose=0)
        clean = model.evaluate(xt, yt, verbose=0)[1] * 100
        shifted = model.evaluate(xt_moved, yt, verbose=0)[1] * 100
        print(f"{label:<22} {clean:>12.2f} {shifted:>16.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=None)
    args = parser.parse_args()
    settings = Settings.make(args.quick, args.threads)
    print("threads:", apply_threads(args.threads))
    step_cost(settings)
    accuracy(args.epochs or (2 if args.quick else 8))


if __name__ == "__main__":
    main()

"""Any classifier of the model zoo on Fashion-MNIST: train, test, save, load.

    python examples/python/classify_fashion.py --model resnet20 [--epochs 2]
        [--train-samples 10000]

The models (pyconv.applications.CLASSIFIERS): lenet5, alexnet, vgg, inception,
resnet20, densenet, se_resnet20, mobilenet, efficientnet. Fashion-MNIST comes
from Debian's dataset-fashion-mnist package (or Keras's download); the saved
.pcv file predicts the same from Python, the C API and pyconv-run.
"""

import argparse
import os
import tempfile
import time

import numpy as np

import pyconv


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="resnet20", choices=sorted(pyconv.applications.CLASSIFIERS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-samples", type=int, default=10000)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()

    (x, y), (x_test, y_test) = pyconv.datasets.fashion_mnist.load_data()
    x, y = x[:args.train_samples], y[:args.train_samples]
    x, x_test = pyconv.data.normalize(x)[..., None], pyconv.data.normalize(x_test)[..., None]
    pyconv.set_seed(0)
    model = pyconv.applications.CLASSIFIERS[args.model](input_shape=(28, 28, 1), num_classes=10)
    model.compile(pyconv.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    print(f"{args.model}: {model.count_params():,} parameters")
    start = time.perf_counter()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    per_epoch = (time.perf_counter() - start) / args.epochs
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"{args.model}: test accuracy {accuracy:.4f} (loss {loss:.4f}); "
          f"{per_epoch:.1f} s per epoch of {len(x)} images")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, f"{args.model}.pcv")
        model.save(path)
        loaded = pyconv.models.load_model(path)
        same = np.array_equal(loaded.predict(x_test[:256]), model.predict(x_test[:256]))
        print(f"saved {os.path.getsize(path):,} bytes; the loaded model predicts "
              f"{'the same' if same else 'DIFFERENTLY'}")


if __name__ == "__main__":
    main()

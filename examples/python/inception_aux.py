"""GoogLeNet's auxiliary classifier: an Inception network with two outputs,
trained with loss weights 1 and 0.3 (a model of several outputs: per-output
losses, loss_weights and per-output metrics in the History).

    python examples/python/inception_aux.py [--epochs 3] [--train-samples 6000]
"""

import argparse

import numpy as np

import pyconv


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-samples", type=int, default=6000)
    args = parser.parse_args()

    (x, y), (x_test, y_test) = pyconv.datasets.mnist.load_sample(num_test=2000)
    x, y = pyconv.data.normalize(x[:args.train_samples])[..., None], y[:args.train_samples]
    x_test = pyconv.data.normalize(x_test)[..., None]
    pyconv.set_seed(0)
    model = pyconv.applications.inception(input_shape=(28, 28, 1), num_classes=10,
                                          aux_classifier=True)
    model.compile(pyconv.optimizers.Adam(1e-3),
                  loss={"output": "sparse_categorical_crossentropy",
                        "aux_output": "sparse_categorical_crossentropy"},
                  loss_weights={"output": 1.0, "aux_output": 0.3}, metrics=["accuracy"])
    history = model.fit(x, [y, y], epochs=args.epochs, batch_size=64, verbose=2)
    print("History keys:", ", ".join(history.history))
    main_probs, aux_probs = model.predict(x_test)
    for name, probs in (("main", main_probs), ("auxiliary", aux_probs)):
        print(f"{name} classifier: test accuracy {np.mean(probs.argmax(1) == y_test):.4f}")


if __name__ == "__main__":
    main()

"""Writes mnist_cnn_v1.pcv and its check data: a small CNN trained for a few
steps on the bundled MNIST sample, saved by pyconv 0.1.0 (format version 1).
Run once per format version; tests/python/test_saving.py keeps loading it."""

from pathlib import Path

import numpy as np

import pyconv
from pyconv import layers

HERE = Path(__file__).parent

pyconv.set_seed(0)
(x, y), _ = pyconv.datasets.mnist.load_sample()
x = (x[:512, ..., None] / 255.0).astype(np.float32)
model = pyconv.Sequential([pyconv.Input((28, 28, 1)),
                           layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Conv2D(16, 3, activation="relu"), layers.MaxPooling2D(2),
                           layers.Flatten(), layers.Dropout(0.2),
                           layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
model.fit(x, y[:512], batch_size=64, epochs=1, verbose=0)
model.save(HERE / "mnist_cnn_v1.pcv")
np.save(HERE / "mnist_cnn_v1_inputs.npy", x[:16])
np.save(HERE / "mnist_cnn_v1_outputs.npy", model.predict(x[:16], verbose=0))

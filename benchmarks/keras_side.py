"""Run by benchmarks/bench_seed_models.py under the Python named by
$PYCONV_KERAS_PYTHON (one with tensorflow-cpu, kept in its own virtual
environment): times Keras 3 on TensorFlow on the same models, batches and
thread count, and prints one JSON line {model: {"step": s, "batch1": s}}.
It imports nothing of pyconv's.

    python keras_side.py THREADS STEPS MODEL:BATCH ...
"""

import json
import os
import sys
import time


def build(keras, name):
    L = keras.layers
    if name in ("lenet5", "lenet5_classic"):
        act = "relu" if name == "lenet5" else "tanh"
        body = [L.Conv2D(6, 5, padding="same", activation=act), L.AveragePooling2D(2),
                L.Conv2D(16, 5, activation=act), L.AveragePooling2D(2), L.Flatten(),
                L.Dense(120, activation=act), L.Dense(84, activation=act),
                L.Dense(10, activation="softmax")]
    elif name == "keras_example":  # the tutorial's model, as it writes it
        body = [L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(2),
                L.Conv2D(64, 3, activation="relu"), L.MaxPooling2D(2), L.Flatten(),
                L.Dropout(0.5), L.Dense(10, activation="softmax")]
    else:
        raise SystemExit(f"unknown model {name}")
    model = keras.Sequential([keras.Input((28, 28, 1))] + body)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    return model


def median_time(fn, calls):
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def main():
    threads, steps = int(sys.argv[1]), int(sys.argv[2])
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import numpy as np
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import keras
    rng = np.random.default_rng(0)
    out = {"keras": keras.__version__, "tensorflow": tf.__version__}
    for spec in sys.argv[3:]:
        name, batch = spec.split(":")
        batch = int(batch)
        model = build(keras, name)
        x = rng.uniform(0, 1, (batch, 28, 28, 1)).astype(np.float32)
        y = rng.integers(0, 10, batch)
        x1 = x[:1]
        for _ in range(5):
            model.train_on_batch(x, y)
            model.predict_on_batch(x1)
        out[name] = {"step": median_time(lambda: model.train_on_batch(x, y), steps),
                     "batch1": median_time(lambda: model.predict_on_batch(x1), steps * 4)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()

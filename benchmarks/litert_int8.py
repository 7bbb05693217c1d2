"""LiteRT (TensorFlow Lite) int8 beside pyconv's: run by bench_int8.py with
a Python that has tensorflow-cpu and ai-edge-litert (optional benchmark
dependencies; see benchmarks/README.md), in its own process.

    python litert_int8.py DIR      # DIR/<model>.npz from bench_int8.py

Each DIR/<model>.npz holds the architecture's name, pyconv's trained weights
(Keras layouts, so they load into the same Keras model unchanged), the 1,000
calibration images and the test images. For each, the Keras model is
converted with TFLiteConverter to a full-integer model (int8 weights per
channel, int8 activations calibrated on the same images, float input and
output), and the script prints one JSON line: test predictions' classes,
batch-1 and batch-256 medians, and the .tflite size. Where that Python also
has TensorFlow Lite Micro's interpreter (`pip install tflite-micro`: its
reference kernels, as a microcontroller build runs them), the same
flatbuffer runs there too ("tflm"): the smallest arena it runs in, its
batch-1 median on this CPU, and how many of the first 500 test images get
LiteRT's class.
"""

import json
import os
import sys

import numpy as np

from timing import median_seconds

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import tensorflow as tf  # noqa: E402
from ai_edge_litert.interpreter import Interpreter  # noqa: E402


def keras_model(name):
    L = tf.keras.layers
    if name == "keras_cnn":
        body = [L.Conv2D(32, 3, activation="relu"), L.Conv2D(64, 3, activation="relu"),
                L.MaxPooling2D(2), L.Dropout(0.25), L.Flatten(), L.Dense(128, activation="relu"),
                L.Dropout(0.5), L.Dense(10, activation="softmax")]
    else:  # lenet5
        body = [L.Conv2D(6, 5, padding="same", activation="relu"), L.AveragePooling2D(2),
                L.Conv2D(16, 5, activation="relu"), L.AveragePooling2D(2), L.Flatten(),
                L.Dense(120, activation="relu"), L.Dense(84, activation="relu"),
                L.Dense(10, activation="softmax")]
    return tf.keras.Sequential([tf.keras.Input((28, 28, 1))] + body)


def tflm(flatbuffer, x, classes, repeats):
    """TensorFlow Lite Micro on the flatbuffer, or None where it is not installed."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        return None

    def runs(arena):  # an interpreter that ran one image in `arena` bytes, or None
        try:
            interpreter = runtime.Interpreter.from_bytes(flatbuffer, arena_size=arena)
            interpreter.set_input(x[:1], 0)
            interpreter.invoke()
            return interpreter
        except Exception:  # it reports what did not fit on its own output
            return None

    hi = 1 << 12
    while runs(hi) is None:
        hi *= 2
        if hi > 1 << 26:
            return None
    lo = hi // 2 if hi > 1 << 12 else 0  # the smallest arena that runs, to 16 bytes: in (lo, hi]
    while hi - lo > 16:
        mid = (lo + hi) // 32 * 16
        lo, hi = (lo, mid) if runs(mid) is not None else (mid, hi)
    interpreter = runs(hi)

    def predict(image):
        interpreter.set_input(image, 0)
        interpreter.invoke()
        return interpreter.get_output(0)

    checked = min(500, len(x))
    agree = sum(int(predict(x[i:i + 1]).argmax() == classes[i]) for i in range(checked))
    return {"arena": hi, "b1": median_seconds(lambda: predict(x[:1]), repeats), "agree": agree,
            "checked": checked}


def run(path, threads):
    data = np.load(path)
    name = str(data["name"])
    model = keras_model(name)
    weights = [data[f"w{i}"] for i in range(int(data["count"]))]
    model.set_weights(weights)
    calibration = data["calibration"]

    def representative():
        for i in range(len(calibration)):
            yield [calibration[i:i + 1]]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    flatbuffer = converter.convert()

    x = data["test"]
    interpreter = Interpreter(model_content=flatbuffer, num_threads=threads)
    inp, out = interpreter.get_input_details()[0]["index"], interpreter.get_output_details()[0]["index"]

    def predict(batch):
        interpreter.resize_tensor_input(inp, batch.shape)
        interpreter.allocate_tensors()
        interpreter.set_tensor(inp, batch)
        interpreter.invoke()
        return interpreter.get_tensor(out)

    classes = np.concatenate([predict(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    one, big = x[:1], x[:256]
    timed = {}
    for label, batch in (("b1", one), ("b256", big)):
        interpreter.resize_tensor_input(inp, batch.shape)
        interpreter.allocate_tensors()

        def call(batch=batch):
            interpreter.set_tensor(inp, batch)
            interpreter.invoke()
            return interpreter.get_tensor(out)

        timed[label] = median_seconds(call, 200 if label == "b1" else 10)
    # Keras's float model for the same weights, to check the copy.
    float_classes = model.predict(x, verbose=0, batch_size=500).argmax(1)
    micro = tflm(flatbuffer, x, classes, 100 if name == "lenet5" else 20)
    print(json.dumps({"name": name, "classes": classes.tolist(), "float_classes": float_classes.tolist(),
                      "b1": timed["b1"], "b256": timed["b256"], "bytes": len(flatbuffer),
                      "version": f"LiteRT (ai-edge-litert), TensorFlow {tf.__version__}",
                      "tflm": micro}))
    sys.stdout.flush()


def main():
    folder, threads = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 2
    for file in sorted(os.listdir(folder)):
        if file.endswith(".npz"):
            run(os.path.join(folder, file), threads)


if __name__ == "__main__":
    main()

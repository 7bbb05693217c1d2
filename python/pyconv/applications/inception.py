"""An Inception-style (GoogLeNet) classifier: parallel 1x1, 3x3, 5x5 and
pooling branches with 1x1 reductions, concatenated; optionally with
GoogLeNet's auxiliary classifier on the middle of the network, which adds a
second output (train it with a smaller loss weight, e.g. 0.3)."""

from .. import layers as L
from ..models import Model


def inception_module(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj):
    relu = {"padding": "same", "activation": "relu"}
    b1 = L.Conv2D(f1, 1, **relu)(x)
    b3 = L.Conv2D(f3, 3, **relu)(L.Conv2D(f3_reduce, 1, **relu)(x))
    b5 = L.Conv2D(f5, 5, **relu)(L.Conv2D(f5_reduce, 1, **relu)(x))
    bp = L.Conv2D(pool_proj, 1, **relu)(L.MaxPooling2D(3, strides=1, padding="same")(x))
    return L.Concatenate()([b1, b3, b5, bp])


def _auxiliary_classifier(x, num_classes):
    """GoogLeNet's side head: pool, 1x1 reduction, a small dense layer."""
    x = L.Conv2D(32, 1, activation="relu")(L.AveragePooling2D(2)(x))
    x = L.Dropout(0.3)(L.Dense(64, activation="relu")(L.Flatten()(x)))
    return L.Dense(num_classes, activation="softmax", name="aux_output")(x)


def inception(input_shape=(32, 32, 3), num_classes=10, aux_classifier=False):
    """aux_classifier=True: outputs [main, auxiliary] (named "output" and "aux_output")."""
    inp = L.Input(input_shape)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = inception_module(x, 16, 16, 24, 4, 8, 8)
    x = inception_module(x, 24, 24, 32, 8, 16, 16)
    x = L.MaxPooling2D(2)(x)
    x = inception_module(x, 32, 32, 48, 8, 16, 16)
    aux = _auxiliary_classifier(x, num_classes) if aux_classifier else None
    x = L.MaxPooling2D(2)(x)
    x = inception_module(x, 48, 32, 64, 8, 24, 24)
    x = L.GlobalAveragePooling2D()(x)
    out = L.Dense(num_classes, activation="softmax", name="output" if aux_classifier else None)(x)
    return Model(inp, [out, aux] if aux_classifier else out, name="inception")

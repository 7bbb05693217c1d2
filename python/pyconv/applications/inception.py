"""An Inception-style (GoogLeNet) classifier: parallel 1x1, 3x3, 5x5 and
pooling branches with 1x1 reductions, concatenated."""

from .. import layers as L
from ..models import Model


def inception_module(x, f1, f3_reduce, f3, f5_reduce, f5, pool_proj):
    relu = {"padding": "same", "activation": "relu"}
    b1 = L.Conv2D(f1, 1, **relu)(x)
    b3 = L.Conv2D(f3, 3, **relu)(L.Conv2D(f3_reduce, 1, **relu)(x))
    b5 = L.Conv2D(f5, 5, **relu)(L.Conv2D(f5_reduce, 1, **relu)(x))
    bp = L.Conv2D(pool_proj, 1, **relu)(L.MaxPooling2D(3, strides=1, padding="same")(x))
    return L.Concatenate()([b1, b3, b5, bp])


def inception(input_shape=(32, 32, 3), num_classes=10):
    inp = L.Input(input_shape)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = inception_module(x, 16, 16, 24, 4, 8, 8)
    x = inception_module(x, 24, 24, 32, 8, 16, 16)
    x = L.MaxPooling2D(2)(x)
    x = inception_module(x, 32, 32, 48, 8, 16, 16)
    x = L.MaxPooling2D(2)(x)
    x = inception_module(x, 48, 32, 64, 8, 24, 24)
    x = L.GlobalAveragePooling2D()(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="inception")

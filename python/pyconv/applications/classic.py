"""LeNet-5, AlexNet-style and VGG-style classifiers."""

from .. import layers as L
from ..models import Model


def lenet5(input_shape=(28, 28, 1), num_classes=10, activation="tanh"):
    """LeCun's LeNet-5 in its original style: tanh, average pooling, 6 and 16
    5x5 filters, then 120-84-classes (train it with 'mse' on one-hot targets
    as in 1998, or with cross-entropy)."""
    inp = L.Input(input_shape)
    x = L.Conv2D(6, 5, padding="same", activation=activation)(inp)
    x = L.AveragePooling2D(2)(x)
    x = L.Conv2D(16, 5, activation=activation)(x)
    x = L.AveragePooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(120, activation=activation)(x)
    x = L.Dense(84, activation=activation)(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="lenet5")


def alexnet(input_shape=(32, 32, 3), num_classes=10, dropout=0.5):
    """AlexNet's ingredients at small scale: a large first kernel with a
    stride, ReLU, local response normalization, overlapping max pooling,
    stacked 3x3 convolutions, and dropout in the dense layers."""
    inp = L.Input(input_shape)
    x = L.Conv2D(32, 5, strides=1, padding="same", activation="relu")(inp)
    x = L.LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)(x)
    x = L.MaxPooling2D(3, strides=2)(x)
    x = L.Conv2D(64, 5, padding="same", activation="relu")(x)
    x = L.LocalResponseNormalization(depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)(x)
    x = L.MaxPooling2D(3, strides=2)(x)
    for filters in (96, 96, 64):
        x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(3, strides=2)(x)
    x = L.Flatten()(x)
    for units in (256, 256):
        x = L.Dense(units, activation="relu")(x)
        if dropout:
            x = L.Dropout(dropout)(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="alexnet")


def vgg(input_shape=(32, 32, 3), num_classes=10, blocks=(32, 64, 128), convs_per_block=2,
        dropout=0.5):
    """VGG's idea: blocks of stacked 3x3 convolutions, each block halving the
    size with max pooling and doubling the filters."""
    inp = L.Input(input_shape)
    x = inp
    for filters in blocks:
        for _ in range(convs_per_block):
            x = L.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = L.MaxPooling2D(2)(x)
    x = L.Flatten()(x)
    x = L.Dense(256, activation="relu")(x)
    if dropout:
        x = L.Dropout(dropout)(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="vgg")

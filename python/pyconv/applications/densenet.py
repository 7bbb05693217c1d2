"""A DenseNet-style classifier: dense blocks, where every layer sees the
concatenation of all earlier ones, joined by 1x1-convolution-and-pooling
transitions."""

from .. import layers as L
from ..models import Model


def _bn_relu_conv(x, filters, kernel):
    x = L.Activation("relu")(L.BatchNormalization()(x))
    return L.Conv2D(filters, kernel, padding="same", use_bias=False)(x)


def densenet(input_shape=(32, 32, 3), num_classes=10, growth=12, layers_per_block=4,
             blocks=3, compression=0.5):
    inp = L.Input(input_shape)
    channels = 2 * growth
    x = L.Conv2D(channels, 3, padding="same", use_bias=False)(inp)
    for block in range(blocks):
        for _ in range(layers_per_block):
            x = L.Concatenate()([x, _bn_relu_conv(x, growth, 3)])
            channels += growth
        if block < blocks - 1:  # transition: compress, then halve the size
            channels = int(channels * compression)
            x = L.AveragePooling2D(2)(_bn_relu_conv(x, channels, 1))
    x = L.Activation("relu")(L.BatchNormalization()(x))
    x = L.GlobalAveragePooling2D()(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="densenet")

"""ResNet-20 (He et al.'s CIFAR network, as in the Keras example's ResNet20v1)
and SE-ResNet-20 (squeeze-and-excitation in every block)."""

from .. import layers as L
from ..models import Model
from ..regularizers import l2


def _conv_bn(x, filters, kernel=3, strides=1, activation="relu", batch_norm=True):
    x = L.Conv2D(filters, kernel, strides=strides, padding="same",
                 kernel_initializer="he_normal", kernel_regularizer=l2(1e-4))(x)
    if batch_norm:
        x = L.BatchNormalization()(x)
    return L.Activation(activation)(x) if activation else x


def squeeze_excite(x, channels, ratio=4):
    """Channel attention: the global mean of each channel, squeezed through a
    small bottleneck, gates the channels (a (N, 1, 1, C) sigmoid broadcast)."""
    gate = L.GlobalAveragePooling2D(keepdims=True)(x)
    gate = L.Dense(max(1, channels // ratio), activation="relu")(gate)
    gate = L.Dense(channels, activation="sigmoid")(gate)
    return L.Multiply()([x, gate])


def _resnet(input_shape, num_classes, depth, se, name):
    if (depth - 2) % 6:
        raise ValueError(f"depth must be 6n + 2 (20, 32, 44, ...), received {depth}")
    blocks = (depth - 2) // 6
    inp = L.Input(input_shape)
    x = _conv_bn(inp, 16)
    filters = 16
    for stage in range(3):
        for block in range(blocks):
            strides = 2 if stage > 0 and block == 0 else 1
            y = _conv_bn(x, filters, strides=strides)
            y = _conv_bn(y, filters, activation=None)
            if se:
                y = squeeze_excite(y, filters)
            if strides > 1:  # projection shortcut: a strided 1x1 convolution
                x = _conv_bn(x, filters, kernel=1, strides=strides, activation=None,
                             batch_norm=False)
            x = L.Activation("relu")(L.Add()([x, y]))
        filters *= 2
    x = L.AveragePooling2D(pool_size=x.shape[1:3])(x)
    x = L.Flatten()(x)
    out = L.Dense(num_classes, activation="softmax", kernel_initializer="he_normal")(x)
    return Model(inp, out, name=name)


def resnet20(input_shape=(32, 32, 3), num_classes=10, depth=20):
    """Basic blocks (two 3x3 convolutions with batch normalization) in three
    stages of 16, 32 and 64 filters; identity shortcuts, and projection
    shortcuts where a stage halves the size."""
    return _resnet(input_shape, num_classes, depth, se=False, name=f"resnet{depth}")


def se_resnet20(input_shape=(32, 32, 3), num_classes=10, depth=20):
    """ResNet-20 with a squeeze-and-excitation gate on every block's residual."""
    return _resnet(input_shape, num_classes, depth, se=True, name=f"se_resnet{depth}")

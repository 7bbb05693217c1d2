"""MobileNet-style (depthwise separable convolutions) and EfficientNet-style
(MBConv: expand, depthwise, squeeze-and-excite, project, with a residual)
classifiers."""

from .. import layers as L
from ..models import Model
from .resnet import squeeze_excite


def _separable_block(x, filters, strides):
    x = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(x)
    x = L.Activation("relu6")(L.BatchNormalization()(x))
    x = L.Conv2D(filters, 1, use_bias=False)(x)
    return L.Activation("relu6")(L.BatchNormalization()(x))


def mobilenet(input_shape=(32, 32, 3), num_classes=10, alpha=1.0):
    """MobileNet v1's body at small scale: a 3x3 convolution, then depthwise
    separable blocks (depthwise 3x3 + pointwise 1x1); `alpha` scales widths."""
    def w(c):
        return max(8, int(c * alpha))
    inp = L.Input(input_shape)
    x = L.Conv2D(w(32), 3, padding="same", use_bias=False)(inp)
    x = L.Activation("relu6")(L.BatchNormalization()(x))
    for filters, strides in ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1)):
        x = _separable_block(x, w(filters), strides)
    x = L.GlobalAveragePooling2D()(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="mobilenet")


def mbconv(x, channels_in, channels_out, expand, strides):
    """EfficientNet's inverted residual block with squeeze-and-excitation."""
    hidden = channels_in * expand
    y = x
    if expand != 1:
        y = L.Activation("swish")(L.BatchNormalization()(L.Conv2D(hidden, 1, use_bias=False)(y)))
    y = L.DepthwiseConv2D(3, strides=strides, padding="same", use_bias=False)(y)
    y = L.Activation("swish")(L.BatchNormalization()(y))
    y = squeeze_excite(y, hidden, ratio=4 * expand)
    y = L.BatchNormalization()(L.Conv2D(channels_out, 1, use_bias=False)(y))
    if strides == 1 and channels_in == channels_out:
        y = L.Add()([x, y])
    return y


def efficientnet(input_shape=(32, 32, 3), num_classes=10):
    """A small EfficientNet-style MBConv stack (swish activations)."""
    inp = L.Input(input_shape)
    x = L.Activation("swish")(L.BatchNormalization()(
        L.Conv2D(16, 3, padding="same", use_bias=False)(inp)))
    channels = 16
    for out, expand, strides, repeat in ((16, 1, 1, 1), (24, 4, 2, 2), (40, 4, 2, 2),
                                         (64, 4, 1, 1)):
        for i in range(repeat):
            x = mbconv(x, channels, out, expand, strides if i == 0 else 1)
            channels = out
    x = L.Activation("swish")(L.BatchNormalization()(L.Conv2D(128, 1, use_bias=False)(x)))
    x = L.GlobalAveragePooling2D()(x)
    return Model(inp, L.Dense(num_classes, activation="softmax")(x), name="efficientnet")

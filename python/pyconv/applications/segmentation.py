"""Segmentation networks: per-pixel outputs of the input's size. With
num_classes=1 the output is a sigmoid mask (train with binary_crossentropy);
otherwise a per-pixel softmax over num_classes channels."""

from .. import layers as L
from ..models import Model


def _head(x, num_classes):
    activation = "sigmoid" if num_classes == 1 else "softmax"
    return L.Conv2D(num_classes, 1, activation=activation)(x)


def _require_divisible(name, input_shape, factor):
    """The skips add or join maps of the same size, so every pooling must
    halve the sides exactly: a clear error instead of a mismatch deep inside."""
    if len(input_shape) != 3 or any(int(side) % factor for side in input_shape[:2]):
        raise ValueError(f"{name} halves its input's height and width {factor.bit_length() - 1} "
                         f"times and joins the halves back: input_shape must be (height, width, "
                         f"channels) with both sides multiples of {factor}, received "
                         f"{tuple(input_shape)} (32x32 works; pad 28x28 images to 32x32)")


def _conv(x, filters, dilation=1):
    return L.Conv2D(filters, 3, padding="same", dilation_rate=dilation, activation="relu")(x)


def fcn8s(input_shape=(32, 32, 1), num_classes=1, width=16):
    """FCN-8s: a VGG-style encoder to 1/8 size, scored and upsampled by learned
    transposed convolutions, fused with the 1/4 and 1/2 scores (skips)."""
    _require_divisible("fcn8s", input_shape, 8)
    inp = L.Input(input_shape)
    x1 = L.MaxPooling2D()(_conv(inp, width))          # 1/2
    x2 = L.MaxPooling2D()(_conv(x1, 2 * width))       # 1/4
    x3 = L.MaxPooling2D()(_conv(x2, 4 * width))       # 1/8
    score = L.Conv2D(width, 1)(_conv(x3, 4 * width))
    up = L.Conv2DTranspose(width, 4, strides=2, padding="same")(score)            # 1/4
    up = L.Add()([up, L.Conv2D(width, 1)(x2)])
    up = L.Conv2DTranspose(width, 4, strides=2, padding="same")(up)               # 1/2
    up = L.Add()([up, L.Conv2D(width, 1)(x1)])
    up = L.Conv2DTranspose(width, 4, strides=2, padding="same", activation="relu")(up)  # 1/1
    return Model(inp, _head(up, num_classes), name="fcn8s")


def unet(input_shape=(32, 32, 1), num_classes=1, width=16, depth=3):
    """U-Net: an encoder and a decoder of the same depth; each decoder level
    concatenates the encoder's features of its size (skip connections)."""
    _require_divisible("unet", input_shape, 1 << depth)
    inp = L.Input(input_shape)
    skips, x = [], inp
    for level in range(depth):
        x = _conv(_conv(x, width << level), width << level)
        skips.append(x)
        x = L.MaxPooling2D()(x)
    x = _conv(_conv(x, width << depth), width << depth)
    for level in reversed(range(depth)):
        x = L.Conv2DTranspose(width << level, 2, strides=2)(x)
        x = L.Concatenate()([x, skips[level]])
        x = _conv(_conv(x, width << level), width << level)
    return Model(inp, _head(x, num_classes), name="unet")


def segnet(input_shape=(32, 32, 1), num_classes=1, width=16, depth=3):
    """SegNet: the decoder upsamples with the encoder's max-pooling indices
    (MaxUnpooling2D), so boundaries come back where the maxima were."""
    inp = L.Input(input_shape)
    x, indices = inp, []
    for level in range(depth):
        x = L.BatchNormalization()(_conv(x, width << level))
        x, where = L.MaxPooling2D(return_indices=True)(x)
        indices.append(where)
    for level in reversed(range(depth)):
        x = L.MaxUnpooling2D()([x, indices[level]])
        x = L.BatchNormalization()(_conv(x, width << max(level - 1, 0)))
    return Model(inp, _head(x, num_classes), name="segnet")


def deeplab(input_shape=(32, 32, 1), num_classes=1, width=16, rates=(1, 2, 4)):
    """A DeepLab-style network: a strided encoder, then atrous spatial pyramid
    pooling (parallel dilated convolutions at several rates and an image-level
    branch, concatenated), upsampled bilinearly to the input size."""
    inp = L.Input(input_shape)
    x = L.MaxPooling2D()(_conv(inp, width))
    x = L.MaxPooling2D()(_conv(x, 2 * width))
    size = x.shape[1:3]
    branches = [L.Conv2D(width, 1, activation="relu")(x)]
    branches += [_conv(x, width, dilation=r) for r in rates]
    image = L.GlobalAveragePooling2D(keepdims=True)(x)
    image = L.UpSampling2D(size=size)(L.Conv2D(width, 1, activation="relu")(image))
    x = L.Conv2D(width, 1, activation="relu")(L.Concatenate()(branches + [image]))
    x = L.UpSampling2D(size=4, interpolation="bilinear")(x)
    return Model(inp, _head(_conv(x, width), num_classes), name="deeplab")

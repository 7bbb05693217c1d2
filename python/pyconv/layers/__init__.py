"""Keras-named layers. Each is a description; the C++ core does the work."""

from .activation import ELU, Activation, LeakyReLU, PReLU, ReLU, Softmax
from .base import Layer
from .conv import Conv1D, Conv2D, Conv2DTranspose, DepthwiseConv2D, SeparableConv2D
from .core import (BatchNormalization, Dense, Dropout, Flatten, Input, InputLayer, KerasTensor,
                   LayerNormalization, LocalResponseNormalization)
from .merge import (Add, Average, Concatenate, Maximum, Multiply, Subtract, add, average,
                    concatenate, maximum, multiply, subtract)
from .pooling import (AveragePooling2D, AvgPool2D, GlobalAveragePooling2D, GlobalAvgPool2D,
                      GlobalMaxPool2D, GlobalMaxPooling2D, MaxPool2D, MaxPooling2D,
                      MaxUnpooling2D)
from .preprocessing import (Normalization, RandomContrast, RandomCrop, RandomFlip,
                            RandomRotation, RandomTranslation, RandomZoom, Rescaling, Resizing)
from .reshaping import Cropping2D, Permute, Reshape, UpSampling2D, ZeroPadding2D

Convolution1D = Conv1D
Convolution2D = Conv2D
Convolution2DTranspose = Conv2DTranspose

__all__ = [
    "Activation", "Add", "Average", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
    "Concatenate", "Conv1D", "Conv2D", "Conv2DTranspose", "Convolution1D", "Convolution2D",
    "Convolution2DTranspose", "Cropping2D", "Dense", "DepthwiseConv2D", "Dropout", "ELU",
    "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
    "GlobalMaxPooling2D", "Input", "InputLayer", "KerasTensor", "Layer", "LayerNormalization",
    "LeakyReLU", "LocalResponseNormalization", "MaxPool2D", "MaxPooling2D", "MaxUnpooling2D",
    "Maximum", "Multiply", "Normalization", "PReLU", "Permute", "RandomContrast", "RandomCrop",
    "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom", "ReLU", "Rescaling",
    "Reshape", "Resizing", "SeparableConv2D", "Softmax",
    "Subtract", "UpSampling2D", "ZeroPadding2D", "add", "average", "concatenate", "maximum",
    "multiply", "subtract",
]


def __getattr__(name):
    """A Keras layer pyconv lacks: say so, and what there is."""
    raise AttributeError(f"pyconv.layers has no {name!r}; its layers: " + ", ".join(
        n for n in __all__ if n[0].isupper()))

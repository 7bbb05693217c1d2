"""pyconv: convolutional neural networks with a fast C++ core and a Keras-style API.

    import pyconv
    model = pyconv.Sequential([pyconv.Input((28, 28, 1)),
                               pyconv.layers.Conv2D(16, 3, activation="relu"), ...])
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=3)
"""

from . import _core
from ._core import __version__
from ._paths import get_cmake_dir, get_include
from ._random import set_seed
from .config import get_num_threads, kernel_isa, set_num_threads, show_config
from .errors import ModelFileError, ShapeError
from . import (activations, applications, callbacks, constraints, data, datasets, initializers,
               layers, losses, metrics, models, optimizers, quantization, regularizers, saving,
               utils)
from .layers import Input
from .models import Model, Sequential
from .profiling import profile
from .quantization import QuantizedModel, quantize

__all__ = [
    "Input", "Model", "ModelFileError", "Sequential", "ShapeError", "__version__", "activations", "applications", "callbacks", "constraints", "data",
    "datasets", "get_cmake_dir", "get_include", "get_num_threads", "initializers", "kernel_isa", "layers",
    "losses", "metrics", "models", "optimizers", "profile", "quantization", "quantize", "QuantizedModel",
    "regularizers", "saving", "set_num_threads", "set_seed",
    "show_config", "utils",
]

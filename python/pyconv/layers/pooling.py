"""Pooling layers on channels-last inputs."""

from .base import Layer, normalize_tuple


class _Pooling2D(Layer):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("only data_format='channels_last' is supported, "
                             f"received {data_format!r}")
        pool_size = normalize_tuple(pool_size, 2, "pool_size")
        if not isinstance(padding, str) or padding.lower() not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', received {padding!r}")
        self._args = {
            "pool_size": pool_size,
            "strides": pool_size if strides is None else normalize_tuple(strides, 2, "strides"),
            "padding": padding.lower(),
        }
        self._validate()


class MaxPooling2D(_Pooling2D):
    """Window maximum; the gradient flows to the position that won."""

    core_type = "MaxPooling2D"


class AveragePooling2D(_Pooling2D):
    """Window mean; with padding='same' border windows average their in-bounds part."""

    core_type = "AveragePooling2D"


class _GlobalPooling2D(Layer):
    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("only data_format='channels_last' is supported, "
                             f"received {data_format!r}")
        if not isinstance(keepdims, bool):
            raise TypeError(f"keepdims must be True or False, received {keepdims!r}")
        if keepdims:
            self._args = {"keepdims": True}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """(N, H, W, C) -> (N, C): the mean over all positions ((N, 1, 1, C) with keepdims)."""

    core_type = "GlobalAveragePooling2D"


class GlobalMaxPooling2D(_GlobalPooling2D):
    """(N, H, W, C) -> (N, C): the maximum over all positions ((N, 1, 1, C) with
    keepdims); the gradient goes to the first position holding it."""

    core_type = "GlobalMaxPooling2D"


MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D

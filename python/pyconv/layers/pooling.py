"""Pooling layers on channels-last inputs."""

from .base import Layer, normalize_tuple
from .core import KerasTensor


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
    """Window maximum; the gradient flows to the position that won. With
    return_indices=True (functional API), calling it gives (values, indices):
    the indices go to MaxUnpooling2D, which puts values back there (SegNet)."""

    core_type = "MaxPooling2D"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 return_indices=False, **kwargs):
        super().__init__(pool_size, strides, padding, data_format, **kwargs)
        if not isinstance(return_indices, bool):
            raise TypeError(f"return_indices must be True or False, received {return_indices!r}")
        self.return_indices = return_indices

    def __call__(self, inputs):
        values = super().__call__(inputs)
        if not self.return_indices:
            return values
        return values, PoolingIndices(values.shape, self, values._inputs[0])

    def get_config(self):
        config = super().get_config()
        if self.return_indices:
            config["return_indices"] = True
        return config


class PoolingIndices(KerasTensor):
    """Where a MaxPooling2D's maxima were: only MaxUnpooling2D takes it. It
    stands for the pool's input, from which the positions are found again."""

    def __init__(self, shape, pool, source):
        super().__init__(shape, name=f"{pool.name}_indices")
        self.pool = pool
        self.source = source


class MaxUnpooling2D(Layer):
    """Puts each value back where its MaxPooling2D window's maximum was, zeros
    elsewhere: `up = MaxUnpooling2D()([values, indices])` with
    `pooled, indices = MaxPooling2D(return_indices=True)(x)`; up has x's shape."""

    core_type = "MaxUnpooling2D"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", **kwargs):
        super().__init__(**kwargs)
        pool = MaxPooling2D(pool_size, strides, padding, name=f"{self.name}_pool")
        self._args = dict(pool._args)

    def __call__(self, inputs):
        parts = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if len(parts) != 2 or not isinstance(parts[1], PoolingIndices):
            raise ValueError(f"MaxUnpooling2D '{self.name}' needs the indices of a "
                             "MaxPooling2D(return_indices=True): call it on [values, indices], "
                             "received " + repr(inputs))
        indices = parts[1]
        self._args = dict(indices.pool._args)  # the geometry of the pool that made them
        return super().__call__([parts[0], indices.source])


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

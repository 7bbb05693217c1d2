"""Layers that move values without weights: ZeroPadding2D, Cropping2D,
UpSampling2D, Reshape and Permute (Keras's arguments)."""

from .base import Layer, normalize_tuple


def _edges(value, name):
    """Keras's int, (rows, cols) or ((top, bottom), (left, right)) as
    (top, bottom, left, right)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return (value,) * 4
    try:
        parts = tuple(value)
    except TypeError:
        parts = ()
    if len(parts) == 2 and all(isinstance(p, int) and not isinstance(p, bool) for p in parts):
        return (parts[0], parts[0], parts[1], parts[1])
    if len(parts) == 2:
        pairs = [normalize_tuple(p, 2, name, allow_zero=True) for p in parts]
        return pairs[0] + pairs[1]
    raise ValueError(f"{name} must be an integer, (rows, cols) or ((top, bottom), "
                     f"(left, right)), received {value!r}")


class _Edges(Layer):
    """A layer whose one argument is four edges: kept as (top, bottom,
    left, right) for the core, written to its config in Keras's form."""

    _edges_arg = ""

    def get_config(self):
        config = super().get_config()
        top, bottom, left, right = config[self._edges_arg]
        config[self._edges_arg] = ((top, bottom), (left, right))
        return config


class ZeroPadding2D(_Edges):
    """Adds rows and columns of zeros at the borders of (N, H, W, C) images."""

    core_type = "ZeroPadding2D"
    _edges_arg = "padding"

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self._args = {"padding": _edges(padding, "padding")}
        self._validate()


class Cropping2D(_Edges):
    """Removes rows and columns at the borders of (N, H, W, C) images."""

    core_type = "Cropping2D"
    _edges_arg = "cropping"

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self._args = {"cropping": _edges(cropping, "cropping")}
        self._validate()


class UpSampling2D(Layer):
    """Enlarges (N, H, W, C) images `size` times: each pixel repeated
    ('nearest'), or interpolated ('bilinear', half-pixel centres)."""

    core_type = "UpSampling2D"

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self._args = {"size": normalize_tuple(size, 2, "size"), "interpolation": interpolation}
        self._validate()


class Reshape(Layer):
    """Gives each sample the shape `target_shape` (one entry may be -1)."""

    core_type = "Reshape"

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        try:
            shape = tuple(target_shape)
        except TypeError:
            raise TypeError(f"target_shape must be a tuple of integers, received "
                            f"{target_shape!r}") from None
        if not shape or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape):
            raise TypeError(f"target_shape must be a tuple of integers, received "
                            f"{target_shape!r}")
        self._args = {"target_shape": shape}
        self._validate()


class Permute(Layer):
    """Reorders the axes of each sample: dims=(2, 1) swaps the first two
    (1-based, the batch axis is not counted)."""

    core_type = "Permute"

    def __init__(self, dims, **kwargs):
        super().__init__(**kwargs)
        dims = tuple(dims)
        if not dims or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            raise TypeError(f"dims must be a tuple of integers, received {dims!r}")
        self._args = {"dims": dims}
        self._validate()


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError("only data_format='channels_last' is supported, "
                         f"received {data_format!r}")

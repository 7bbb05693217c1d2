"""Conv2D: 2-D convolution (cross-correlation, as in Keras and PyTorch) on
channels-last inputs, with a (kh, kw, in_channels / groups, filters) kernel."""

from .base import Layer, normalize_activation, normalize_tuple


def _normalize_padding(padding):
    if isinstance(padding, str):
        padding = padding.lower()
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid', 'same' or integers, received '{padding}'")
        return padding
    if isinstance(padding, int) and not isinstance(padding, bool):
        return normalize_tuple(padding, 2, "padding", allow_zero=True)
    values = tuple(padding)
    return normalize_tuple(values, len(values) if len(values) in (2, 4) else 2, "padding",
                           allow_zero=True)


class Conv2D(Layer):
    """Keras-compatible arguments; `padding` may also be an int, (pad_h, pad_w)
    or (top, bottom, left, right). groups == in_channels is a depthwise conv."""

    core_type = "Conv2D"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("only data_format='channels_last' is supported, "
                             f"received {data_format!r}")
        if isinstance(filters, bool) or not isinstance(filters, int):
            raise TypeError(f"filters must be an integer, received {filters!r}")
        self._args = {
            "filters": filters,
            "kernel_size": normalize_tuple(kernel_size, 2, "kernel_size"),
            "strides": normalize_tuple(strides, 2, "strides"),
            "padding": _normalize_padding(padding),
            "dilation_rate": normalize_tuple(dilation_rate, 2, "dilation_rate"),
            "groups": groups,
            "activation": normalize_activation(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": kernel_initializer,
            "bias_initializer": bias_initializer,
        }
        self._validate()

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


def _conv_args(rank, filters, kernel_size, strides, padding, dilation_rate, groups, activation,
               use_bias, kernel_initializer, bias_initializer):
    """The core config of a Conv1D (rank 1) or Conv2D (rank 2)."""
    return {
        "filters": filters,
        "kernel_size": normalize_tuple(kernel_size, rank, "kernel_size"),
        "strides": normalize_tuple(strides, rank, "strides"),
        "padding": padding,
        "dilation_rate": normalize_tuple(dilation_rate, rank, "dilation_rate"),
        "groups": groups,
        "activation": normalize_activation(activation),
        "use_bias": bool(use_bias),
        "kernel_initializer": kernel_initializer,
        "bias_initializer": bias_initializer,
    }


class Conv2D(Layer):
    """Keras-compatible arguments; `padding` may also be an int, (pad_h, pad_w)
    or (top, bottom, left, right). groups == in_channels is a depthwise conv."""

    core_type = "Conv2D"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 data_format=None, dilation_rate=(1, 1), groups=1, activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("only data_format='channels_last' is supported, "
                             f"received {data_format!r}")
        if isinstance(filters, bool) or not isinstance(filters, int):
            raise TypeError(f"filters must be an integer, received {filters!r}")
        self._args = _conv_args(2, filters, kernel_size, strides, _normalize_padding(padding),
                                dilation_rate, groups, activation, use_bias, kernel_initializer,
                                bias_initializer)
        self._set_regularizers(kernel_regularizer, bias_regularizer, kernel_constraint,
                               bias_constraint)
        self._validate()


def _channels_last(data_format):
    if data_format not in (None, "channels_last"):
        raise ValueError("only data_format='channels_last' is supported, "
                         f"received {data_format!r}")


def _positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, received {value!r}")
    return value


def _depthwise_args(kernel_size, strides, padding, depth_multiplier, dilation_rate, activation,
                    use_bias, depthwise_initializer, bias_initializer):
    return {
        "kernel_size": normalize_tuple(kernel_size, 2, "kernel_size"),
        "strides": normalize_tuple(strides, 2, "strides"),
        "padding": _normalize_padding(padding),
        "depth_multiplier": _positive_int(depth_multiplier, "depth_multiplier"),
        "dilation_rate": normalize_tuple(dilation_rate, 2, "dilation_rate"),
        "activation": normalize_activation(activation),
        "use_bias": bool(use_bias),
        "depthwise_initializer": depthwise_initializer,
        "bias_initializer": bias_initializer,
    }


class DepthwiseConv2D(Layer):
    """One spatial filter bank per input channel (MobileNet): `depth_multiplier`
    outputs per channel; kernel (kh, kw, in_channels, depth_multiplier)."""

    core_type = "DepthwiseConv2D"
    _kernel_regularizer_arg = "depthwise_regularizer"

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, depthwise_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self._args = _depthwise_args(kernel_size, strides, padding, depth_multiplier,
                                     dilation_rate, activation, use_bias, depthwise_initializer,
                                     bias_initializer)
        self._set_regularizers(depthwise_regularizer, bias_regularizer, depthwise_constraint,
                               bias_constraint)
        self._validate()


class SeparableConv2D(Layer):
    """A depthwise convolution, then a 1x1 convolution to `filters` channels."""

    core_type = "SeparableConv2D"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", kernel_regularizer=None, bias_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        self._args = {"filters": _positive_int(filters, "filters"),
                      **_depthwise_args(kernel_size, strides, padding, depth_multiplier,
                                        dilation_rate, activation, use_bias,
                                        depthwise_initializer, bias_initializer),
                      "pointwise_initializer": pointwise_initializer}
        # One regularizer for both kernels (depthwise and pointwise).
        self._set_regularizers(kernel_regularizer, bias_regularizer, kernel_constraint,
                               bias_constraint)
        self._validate()


class Conv1D(Layer):
    """1-D convolution over (N, steps, channels); padding 'valid', 'same' or
    'causal' (only before the first step); kernel (kernel_size, C / groups, filters)."""

    core_type = "Conv1D"

    def __init__(self, filters, kernel_size, strides=1, padding="valid", data_format=None,
                 dilation_rate=1, groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        if not isinstance(padding, str):
            raise TypeError(f"padding must be 'valid', 'same' or 'causal', received {padding!r}")
        self._args = _conv_args(1, _positive_int(filters, "filters"), kernel_size, strides,
                                padding.lower(), dilation_rate, groups, activation, use_bias,
                                kernel_initializer, bias_initializer)
        self._set_regularizers(kernel_regularizer, bias_regularizer, kernel_constraint,
                               bias_constraint)
        self._validate()


class Conv2DTranspose(Layer):
    """The transpose (adjoint) of a Conv2D: learned upsampling (FCN). Output
    size as in Keras: 'valid' H * s + max(k - s, 0), 'same' H * s, or with
    output_padding (H - 1) * s + k - 2 * pad + output_padding. Kernel
    (kh, kw, filters, in_channels)."""

    core_type = "Conv2DTranspose"

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid",
                 output_padding=None, data_format=None, dilation_rate=(1, 1), activation=None,
                 use_bias=True, kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        _channels_last(data_format)
        if padding not in ("valid", "same"):
            raise ValueError(f"padding must be 'valid' or 'same', received {padding!r}")
        self._args = {
            "filters": _positive_int(filters, "filters"),
            "kernel_size": normalize_tuple(kernel_size, 2, "kernel_size"),
            "strides": normalize_tuple(strides, 2, "strides"),
            "padding": padding,
            "dilation_rate": normalize_tuple(dilation_rate, 2, "dilation_rate"),
            "activation": normalize_activation(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": kernel_initializer,
            "bias_initializer": bias_initializer,
        }
        if output_padding is not None:
            self._args["output_padding"] = normalize_tuple(output_padding, 2, "output_padding",
                                                           allow_zero=True)
        self._set_regularizers(kernel_regularizer, bias_regularizer, kernel_constraint,
                               bias_constraint)
        self._validate()

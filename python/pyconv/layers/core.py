"""Dense, Flatten, Dropout, and the functional API's symbolic tensors (Input)."""

import numbers

from .base import Layer, normalize_activation


class Dense(Layer):
    """y = activation(x @ kernel + bias), kernel shaped (in_features, units)."""

    core_type = "Dense"

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, **kwargs):
        super().__init__(**kwargs)
        if isinstance(units, bool) or not isinstance(units, numbers.Integral):
            raise TypeError(f"units must be an integer, received {units!r}")
        self._args = {
            "units": int(units),
            "activation": normalize_activation(activation),
            "use_bias": bool(use_bias),
            "kernel_initializer": kernel_initializer,
            "bias_initializer": bias_initializer,
        }
        self._set_regularizers(kernel_regularizer, bias_regularizer, kernel_constraint,
                               bias_constraint)
        self._validate()


class Flatten(Layer):
    """(N, d1, d2, ...) -> (N, d1 * d2 * ...), channels-last order."""

    core_type = "Flatten"

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        if data_format not in (None, "channels_last"):
            raise ValueError("only data_format='channels_last' is supported, "
                             f"received {data_format!r}")


class Dropout(Layer):
    """Inverted dropout: during training zeroes a fraction `rate` of the inputs
    and scales the rest by 1 / (1 - rate); does nothing at inference."""

    core_type = "Dropout"

    def __init__(self, rate, noise_shape=None, seed=None, inference_mode=False, **kwargs):
        super().__init__(**kwargs)
        if noise_shape is not None:
            raise ValueError("noise_shape is not supported; expected None")
        if isinstance(rate, bool) or not isinstance(rate, numbers.Real):
            raise TypeError(f"rate must be a number, received {rate!r}")
        self._args = {"rate": float(rate)}
        if seed is not None:
            self._args["seed"] = int(seed)
        _inference_mode_arg(self._args, inference_mode)
        self._validate()

    def core_config(self):
        # In inference mode the core gets rate 0: the identity in training too.
        config = super().core_config()
        if config.pop("inference_mode", False):
            config["rate"] = 0.0
        return config


def _inference_mode_arg(args, inference_mode):
    """inference_mode=True (set by a Sequential called with training=False
    inside another model, as Keras's base_model(x, training=False)): the
    layer runs as at inference in training too. Kept in the config only when set."""
    if not isinstance(inference_mode, bool):
        raise TypeError(f"inference_mode must be True or False, received {inference_mode!r}")
    if inference_mode:
        args["inference_mode"] = True


class KerasTensor:
    """A symbolic tensor of the functional API: the shape (batch axis None) a
    layer's output will have, and which layer makes it from which tensors.
    Calling a layer on KerasTensors gives another; pyconv.Model(inputs,
    outputs) turns the graph they describe into a model."""

    dtype = "float32"  # every tensor pyconv computes

    def __init__(self, shape, layer=None, inputs=(), name=None):
        self.shape = tuple(shape)
        self.name = name
        self._layer = layer           # None for a model input
        self._inputs = tuple(inputs)  # the tensors the layer was called on

    def __repr__(self):
        source = f" from {self._layer.name}" if self._layer is not None else ""
        return f"<KerasTensor shape={self.shape}{source}>"


class Input(KerasTensor):
    """A model input of per-sample shape `shape`: `x = Input(shape=(28, 28, 1))`.
    It starts a Sequential list, or a functional graph (call layers on it)."""

    def __init__(self, shape, batch_size=None, dtype=None, name=None):
        if dtype not in (None, "float32"):
            raise ValueError(f"only dtype='float32' is supported, received {dtype!r}")
        if isinstance(shape, (tuple, list)) and any(d is None for d in shape):
            raise ValueError(f"shape {tuple(shape)!r} has a dimension of unknown size (None): "
                             "pyconv builds every layer for one fixed input shape; give the "
                             "size (pad or crop the data to it)")
        try:
            shape = tuple(int(d) for d in shape)
        except TypeError:
            raise TypeError(f"shape must be a tuple of integers, received {shape!r}") from None
        if not shape or any(d <= 0 for d in shape):
            raise ValueError(f"shape must be a non-empty tuple of positive integers, "
                             f"received {shape!r}")
        super().__init__((batch_size,) + shape, name=name)

    def __repr__(self):
        return f"<Input shape={self.shape}>"


InputLayer = Input


class BatchNormalization(Layer):
    """Normalizes each channel (the last axis): with the batch's statistics
    while training, with their moving averages at inference (Keras's
    arguments and defaults: momentum=0.99, epsilon=1e-3). Its weights are
    [gamma, beta, moving_mean, moving_variance]; the last two are not trained."""

    core_type = "BatchNormalization"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 inference_mode=False, **kwargs):
        super().__init__(**kwargs)
        for name, value in (("momentum", momentum), ("epsilon", epsilon)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a number, received {value!r}")
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"axis must be an integer, received {axis!r}")
        self._args = {"axis": int(axis), "momentum": float(momentum), "epsilon": float(epsilon),
                      "center": bool(center), "scale": bool(scale),
                      "beta_initializer": beta_initializer, "gamma_initializer": gamma_initializer,
                      "moving_mean_initializer": moving_mean_initializer,
                      "moving_variance_initializer": moving_variance_initializer}
        _inference_mode_arg(self._args, inference_mode)
        self._validate()


class LayerNormalization(Layer):
    """Normalizes each position's last axis (per sample), then gamma * x + beta
    (Keras's defaults: epsilon=1e-3, center, scale)."""

    core_type = "LayerNormalization"

    def __init__(self, axis=-1, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones", **kwargs):
        super().__init__(**kwargs)
        if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real):
            raise TypeError(f"epsilon must be a number, received {epsilon!r}")
        if axis not in (-1, [-1], (-1,)):
            raise ValueError(f"only axis=-1 is supported, received {axis!r}")
        self._args = {"axis": -1, "epsilon": float(epsilon), "center": bool(center),
                      "scale": bool(scale), "beta_initializer": beta_initializer,
                      "gamma_initializer": gamma_initializer}
        self._validate()


class LocalResponseNormalization(Layer):
    """AlexNet's normalization across channels (TensorFlow's arguments):
    x / (bias + alpha * sum(x_j ** 2 for channels j within depth_radius)) ** beta."""

    core_type = "LocalResponseNormalization"

    def __init__(self, depth_radius=5, bias=1.0, alpha=1.0, beta=0.5, **kwargs):
        super().__init__(**kwargs)
        if isinstance(depth_radius, bool) or not isinstance(depth_radius, int):
            raise TypeError(f"depth_radius must be an integer, received {depth_radius!r}")
        for name, value in (("bias", bias), ("alpha", alpha), ("beta", beta)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a number, received {value!r}")
        self._args = {"depth_radius": depth_radius, "bias": float(bias), "alpha": float(alpha),
                      "beta": float(beta)}
        self._validate()

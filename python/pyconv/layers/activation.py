"""Activation layers."""

import numbers

from .base import Layer, normalize_activation


def _number(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, received {value!r}")
    return float(value)


class Activation(Layer):
    """Applies a named activation: 'relu', 'tanh', 'sigmoid', 'softmax', 'linear',
    'elu', 'selu', 'softplus', 'relu6', 'hard_sigmoid', 'leaky_relu' (slope
    0.2), 'gelu' (exact), 'swish' or 'silu'."""

    core_type = "Activation"

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self._args = {"activation": normalize_activation(activation)}
        self._validate()


class ReLU(Activation):
    def __init__(self, **kwargs):
        super().__init__("relu", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


class Softmax(Activation):
    def __init__(self, axis=-1, **kwargs):
        if axis != -1:
            raise ValueError(f"only axis=-1 is supported, received {axis!r}")
        super().__init__("softmax", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["activation"]
        return config


class LeakyReLU(Layer):
    """x for x > 0, else negative_slope * x (Keras 2's name for it, alpha, works too)."""

    core_type = "LeakyReLU"

    def __init__(self, negative_slope=0.3, alpha=None, **kwargs):
        super().__init__(**kwargs)
        slope = negative_slope if alpha is None else alpha
        self._args = {"negative_slope": _number(slope, "negative_slope")}
        self._validate()


class ELU(Layer):
    """x for x > 0, else alpha * (exp(x) - 1)."""

    core_type = "ELU"

    def __init__(self, alpha=1.0, **kwargs):
        super().__init__(**kwargs)
        self._args = {"alpha": _number(alpha, "alpha")}
        self._validate()


class PReLU(Layer):
    """x for x > 0, else alpha * x with alpha learned per element, shared along
    `shared_axes` (Keras numbering, e.g. [1, 2]: one slope per channel)."""

    core_type = "PReLU"

    def __init__(self, alpha_initializer="zeros", shared_axes=None, **kwargs):
        super().__init__(**kwargs)
        self._args = {"alpha_initializer": alpha_initializer}
        if shared_axes is not None:
            axes = [shared_axes] if isinstance(shared_axes, int) else list(shared_axes)
            if not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
                raise TypeError(f"shared_axes must be integers, received {shared_axes!r}")
            self._args["shared_axes"] = axes
        self._validate()

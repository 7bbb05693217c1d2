"""Activation layers."""

from .base import Layer, normalize_activation


class Activation(Layer):
    """Applies a named activation: 'relu', 'tanh', 'sigmoid', 'softmax' or 'linear'."""

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

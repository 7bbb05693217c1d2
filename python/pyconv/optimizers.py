"""Optimizer descriptions; the updates run in the C++ core. Once a model is
compiled, `optimizer.learning_rate` reads and writes the live value."""

import math

from . import _core


class Optimizer:
    core_type = None

    def __init__(self, learning_rate, weight_decay=None, **config):
        self._config = {"learning_rate": float(learning_rate), **config}
        if weight_decay is not None:
            self._config["weight_decay"] = float(weight_decay)
        self._graph = None  # the C++ graph this optimizer drives, once compiled
        _core.validate_optimizer(self.core_config())

    def core_config(self):
        return {"type": self.core_type, **self._config}

    def get_config(self):
        return dict(self._config)

    @property
    def learning_rate(self):
        if self._graph is not None:
            return self._graph.learning_rate
        return self._config["learning_rate"]

    @learning_rate.setter
    def learning_rate(self, value):
        value = float(value)
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"learning_rate must be a finite non-negative number, received {value}")
        self._config["learning_rate"] = value
        if self._graph is not None:
            self._graph.learning_rate = value

    @property
    def iterations(self):
        return self._graph.iterations if self._graph is not None else 0


class SGD(Optimizer):
    """w -= lr * g, with optional momentum, Nesterov momentum and weight decay."""

    core_type = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None):
        super().__init__(learning_rate, weight_decay, momentum=float(momentum),
                         nesterov=bool(nesterov))


class Adam(Optimizer):
    core_type = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None):
        super().__init__(learning_rate, weight_decay, beta_1=float(beta_1),
                         beta_2=float(beta_2), epsilon=float(epsilon), amsgrad=bool(amsgrad))


class RMSprop(Optimizer):
    core_type = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None):
        super().__init__(learning_rate, weight_decay, rho=float(rho), momentum=float(momentum),
                         epsilon=float(epsilon), centered=bool(centered))


_BY_NAME = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get(identifier):
    """An Optimizer from a name or an Optimizer instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, str):
        raise ValueError(f"unknown optimizer '{identifier}'; expected one of "
                         + ", ".join(f"'{k}'" for k in _BY_NAME))
    raise TypeError("optimizer must be a name or a pyconv.optimizers.Optimizer, "
                    f"received {identifier!r}")


def from_core_config(config):
    """The Optimizer a C++ optimizer config describes (a loaded model's)."""
    config = dict(config)
    return _BY_NAME[config.pop("type")](**config)

"""Optimizers with Keras's names and arguments; the updates run in the C++
core. Once a model is compiled, `optimizer.learning_rate` reads the live
value (a float with Keras's `assign`), and a schedule (pyconv.optimizers.
schedules) sets it before every step."""

import math
import warnings

from .. import _core
from . import schedules
from .schedules import LearningRateSchedule


class LearningRate(float):
    """The learning rate as Keras hands it out: a number, with assign()."""

    def __new__(cls, value, optimizer):
        self = super().__new__(cls, value)
        self._optimizer = optimizer
        return self

    def assign(self, value):
        self._optimizer.learning_rate = value
        return self._optimizer.learning_rate

    def numpy(self):
        return float(self)


def _clip(value, name):
    if value is None:
        return None
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{name} must be a positive number, received {value}")
    return value


# Keras's base-optimizer arguments that pyconv's C++ step has no counterpart
# for: accepted at their defaults (scripts pass them), refused otherwise.
_UNSUPPORTED_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                         "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _check_unsupported(config):
    for name, default in _UNSUPPORTED_DEFAULTS.items():
        value = config.pop(name, default)
        if value != default:
            raise ValueError(f"pyconv's optimizers do not support {name}={value!r} (only its "
                             f"default, {default!r}): the C++ step keeps no averaged weights "
                             "and no accumulated gradients; for larger effective batches, "
                             "raise batch_size")


class Optimizer:
    core_type = None

    def __init__(self, learning_rate, weight_decay=None, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, name=None, **config):
        _check_unsupported(config)
        self.name = name or ("SGD" if type(self) is SGD else type(self).__name__.lower())  # Keras's
        self._schedule = learning_rate if isinstance(learning_rate, LearningRateSchedule) else None
        first = self._schedule(0) if self._schedule is not None else learning_rate
        self._config = {"learning_rate": float(first), **config}
        if weight_decay is not None:
            self._config["weight_decay"] = float(weight_decay)
        clips = {name: _clip(value, name) for name, value in (
            ("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm))}
        if clips["clipvalue"] is not None and (clips["clipnorm"] or clips["global_clipnorm"]):
            # Keras clips by the norm and then not by value: so does pyconv.
            warnings.warn("clipvalue is ignored when clipnorm or global_clipnorm is set, as in "
                          "Keras", stacklevel=3)
            clips["clipvalue"] = None
        self._config.update({name: v for name, v in clips.items() if v is not None})
        self._graph = None  # the C++ graph this optimizer drives, once compiled
        _core.validate_optimizer(self.core_config())

    def core_config(self):
        return {"type": self.core_type, **self._config}

    def get_config(self):
        config = {"name": self.name, **self._config}
        if self._schedule is not None:
            config["learning_rate"] = schedules.serialize(self._schedule)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        rate = config.get("learning_rate")
        if isinstance(rate, dict):
            config["learning_rate"] = schedules.deserialize(rate)
        return cls(**config)

    @property
    def learning_rate(self):
        """The rate of the coming step (a schedule's value at `iterations`, as in Keras)."""
        if self._schedule is not None:
            value = float(self._schedule(self.iterations))
        elif self._graph is not None:
            value = self._graph.learning_rate
        else:
            value = self._config["learning_rate"]
        return LearningRate(value, self)

    @property
    def weight_decay(self):
        return self._config.get("weight_decay")

    @learning_rate.setter
    def learning_rate(self, value):
        if isinstance(value, LearningRateSchedule):
            self._schedule = value
            value = value(self.iterations)
        elif self._schedule is not None:
            # As Keras 3: a number would silently end the schedule (a
            # ReduceLROnPlateau on a decaying rate replaced its decay).
            raise TypeError("this optimizer's learning rate follows a LearningRateSchedule and "
                            "cannot be set to a number; assign another schedule, or compile "
                            "with a number as the learning_rate to change it by hand or by a "
                            "callback")
        value = float(value)
        if not (value >= 0 and math.isfinite(value)):
            raise ValueError(f"learning_rate must be a finite non-negative number, received {value}")
        self._config["learning_rate"] = value
        if self._graph is not None:
            self._graph.learning_rate = value

    def _before_step(self):
        """Sets a schedule's rate for the coming step."""
        if self._schedule is not None and self._graph is not None:
            self._graph.learning_rate = float(self._schedule(self._graph.iterations))

    @property
    def iterations(self):
        return self._graph.iterations if self._graph is not None else 0


class SGD(Optimizer):
    """w -= lr * g, with optional momentum, Nesterov momentum and weight decay."""

    core_type = "sgd"

    def __init__(self, learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, momentum=float(momentum),
                         nesterov=bool(nesterov), **kwargs)


class Adam(Optimizer):
    core_type = "adam"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 amsgrad=False, weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, beta_1=float(beta_1),
                         beta_2=float(beta_2), epsilon=float(epsilon), amsgrad=bool(amsgrad), **kwargs)


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras's AdamW: weight_decay=0.004)."""

    def __init__(self, learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-7, amsgrad=False, **kwargs):
        super().__init__(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, **kwargs)


class RMSprop(Optimizer):
    core_type = "rmsprop"

    def __init__(self, learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False,
                 weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, rho=float(rho), momentum=float(momentum),
                         epsilon=float(epsilon), centered=bool(centered), **kwargs)


class Adagrad(Optimizer):
    """Per-weight rates from the sum of squared gradients (starting at
    initial_accumulator_value)."""

    core_type = "adagrad"

    def __init__(self, learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7,
                 weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay,
                         initial_accumulator_value=float(initial_accumulator_value),
                         epsilon=float(epsilon), **kwargs)


class Adadelta(Optimizer):
    core_type = "adadelta"

    def __init__(self, learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, rho=float(rho), epsilon=float(epsilon),
                         **kwargs)


class Adamax(Optimizer):
    """Adam with the infinity norm of the gradients in place of their second moment."""

    core_type = "adamax"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7,
                 weight_decay=None, **kwargs):
        super().__init__(learning_rate, weight_decay, beta_1=float(beta_1),
                         beta_2=float(beta_2), epsilon=float(epsilon), **kwargs)


class Nadam(Adamax):
    """Adam with Nesterov momentum (Keras's momentum schedule)."""

    core_type = "nadam"


class Lion(Optimizer):
    """Steps of the same size for every weight: the sign of an interpolation
    of momentum and gradient."""

    core_type = "lion"

    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None,
                 **kwargs):
        super().__init__(learning_rate, weight_decay, beta_1=float(beta_1),
                         beta_2=float(beta_2), **kwargs)


_BY_NAME = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad,
            "adadelta": Adadelta, "adamax": Adamax, "nadam": Nadam, "lion": Lion}


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

"""Loss descriptions; the math runs in the C++ core. Reduction is Keras's
default, "sum_over_batch_size" (the mean over samples)."""

from . import _core


class Loss:
    core_type = None

    def __init__(self, **config):
        if self.core_type is None and not type(self).__name__.startswith("_"):
            raise TypeError(f"{type(self).__name__}: pyconv computes losses in its C++ step, so "
                            "a Loss subclass with its own call() is not supported; use one of "
                            "pyconv.losses (with loss_weights, or class_weight/sample_weight, "
                            "to weigh them)")
        self._config = config
        _core.validate_loss(self.core_config())

    def core_config(self):
        return {"type": self.core_type, **self._config}

    def get_config(self):
        return dict(self._config)

    def __call__(self, y_true, y_pred):
        """The mean loss of predictions y_pred against targets y_true."""
        import numpy as np
        loss, _ = _core.loss_and_grad(self.core_config(), np.asarray(y_pred, np.float32),
                                      np.asarray(y_true, np.float32))
        return loss


# Keras's other cross-entropy arguments: accepted at these values only.
_KERAS_DEFAULTS = {"label_smoothing": 0.0, "ignore_class": None, "axis": -1,
                   "reduction": "sum_over_batch_size"}


class _Crossentropy(Loss):
    """A cross-entropy on probabilities, or on logits with from_logits=True."""

    def __init__(self, from_logits=False, name=None, **keras_arguments):
        for key, value in keras_arguments.items():
            if key not in _KERAS_DEFAULTS:
                raise TypeError(f"{type(self).__name__}() got an unexpected keyword argument "
                                f"{key!r}")
            if value != _KERAS_DEFAULTS[key]:
                raise ValueError(f"{type(self).__name__}: {key}={value!r} is not supported (only "
                                 f"{_KERAS_DEFAULTS[key]!r}); smooth or mask the targets before "
                                 "fit instead, or weigh samples with sample_weight")
        super().__init__(from_logits=bool(from_logits))


class SparseCategoricalCrossentropy(_Crossentropy):
    """Integer class labels against probabilities (or logits with from_logits=True)."""

    core_type = "sparse_categorical_crossentropy"


class CategoricalCrossentropy(_Crossentropy):
    """One-hot (or probability) targets against probabilities or logits."""

    core_type = "categorical_crossentropy"


class MeanSquaredError(Loss):
    core_type = "mse"


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)); 0/1 targets are read as -1/+1."""

    core_type = "hinge"


class BinaryCrossentropy(_Crossentropy):
    """0/1 (or probability) targets against sigmoid probabilities, or logits
    with from_logits=True; a sigmoid output is fused into the loss in training."""

    core_type = "binary_crossentropy"


class MeanAbsoluteError(Loss):
    core_type = "mae"


class Huber(Loss):
    """0.5 d^2 where |d| <= delta, delta * (|d| - 0.5 delta) beyond."""

    core_type = "huber"

    def __init__(self, delta=1.0):
        if isinstance(delta, bool) or not isinstance(delta, (int, float)):
            raise TypeError(f"delta must be a number, received {delta!r}")
        super().__init__(delta=float(delta))


class CategoricalHinge(Loss):
    """max(max((1 - y_true) * y_pred) - sum(y_true * y_pred) + 1, 0) per sample."""

    core_type = "categorical_hinge"


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "hinge": Hinge,
    "binary_crossentropy": BinaryCrossentropy,
    "mae": MeanAbsoluteError,
    "mean_absolute_error": MeanAbsoluteError,
    "huber": Huber,
    "categorical_hinge": CategoricalHinge,
}


def get(identifier):
    """A Loss from a name or a Loss instance."""
    if isinstance(identifier, Loss):
        return identifier
    if isinstance(identifier, str) and identifier.lower() in _BY_NAME:
        return _BY_NAME[identifier.lower()]()
    if isinstance(identifier, str):
        raise ValueError(f"unknown loss '{identifier}'; expected one of "
                         + ", ".join(f"'{k}'" for k in _BY_NAME))
    if identifier is None:
        raise TypeError("every output needs a loss (None is not one); to leave an output "
                        "out of training, give it a loss with loss_weights 0")
    raise TypeError(f"loss must be a name or a pyconv.losses.Loss, received {identifier!r}")


def from_core_config(config):
    """The Loss a C++ loss config describes (a loaded model's)."""
    config = dict(config)
    return _BY_NAME[config.pop("type")](**config)

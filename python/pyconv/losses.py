"""Loss descriptions; the math runs in the C++ core. Reduction is Keras's
default, "sum_over_batch_size" (the mean over samples)."""

from . import _core


class Loss:
    core_type = None

    def __init__(self, **config):
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


class SparseCategoricalCrossentropy(Loss):
    """Integer class labels against probabilities (or logits with from_logits=True)."""

    core_type = "sparse_categorical_crossentropy"

    def __init__(self, from_logits=False):
        super().__init__(from_logits=bool(from_logits))


class CategoricalCrossentropy(Loss):
    """One-hot (or probability) targets against probabilities or logits."""

    core_type = "categorical_crossentropy"

    def __init__(self, from_logits=False):
        super().__init__(from_logits=bool(from_logits))


class MeanSquaredError(Loss):
    core_type = "mse"


class Hinge(Loss):
    """mean(max(1 - y_true * y_pred, 0)); 0/1 targets are read as -1/+1."""

    core_type = "hinge"


_BY_NAME = {
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "mse": MeanSquaredError,
    "mean_squared_error": MeanSquaredError,
    "hinge": Hinge,
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
    raise TypeError(f"loss must be a name or a pyconv.losses.Loss, received {identifier!r}")


def from_core_config(config):
    """The Loss a C++ loss config describes (a loaded model's)."""
    config = dict(config)
    return _BY_NAME[config.pop("type")](**config)

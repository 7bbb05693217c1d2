"""Merge layers: combine several tensors of the functional API into one.

    x = layers.Add()([x, shortcut])                  # a residual connection
    y = layers.Multiply()([features, gate])          # gate (N, 1, 1, C) broadcasts
    z = layers.Concatenate()([branch1, branch2])     # along the channels
"""

import numbers

from .base import Layer


class Add(Layer):
    """The element-wise sum of its inputs (a size-1 axis broadcasts)."""

    core_type = "Add"


class Subtract(Layer):
    """inputs[0] - inputs[1] (exactly two inputs)."""

    core_type = "Subtract"


class Multiply(Layer):
    """The element-wise product of its inputs (a size-1 axis broadcasts: a
    squeeze-and-excitation gate (N, 1, 1, C) scales an (N, H, W, C) map)."""

    core_type = "Multiply"


class Average(Layer):
    """The element-wise mean of its inputs."""

    core_type = "Average"


class Maximum(Layer):
    """The element-wise maximum of its inputs (the gradient goes to the first
    input holding it)."""

    core_type = "Maximum"


class Concatenate(Layer):
    """Joins its inputs along `axis` (Keras numbering: the batch axis is 0,
    so -1 or 3 is the channels of an (N, H, W, C) tensor)."""

    core_type = "Concatenate"

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, numbers.Integral):
            raise TypeError(f"axis must be an integer, received {axis!r}")
        if axis == 0:
            raise ValueError("Concatenate: axis 0 is the batch axis, which cannot be joined; "
                             "use -1 (the channels) or another axis >= 1")
        self._args = {"axis": int(axis)}


def _merge(cls, inputs, **kwargs):
    return cls(**kwargs)(list(inputs))


def add(inputs, **kwargs):
    """Add()(inputs)."""
    return _merge(Add, inputs, **kwargs)


def subtract(inputs, **kwargs):
    """Subtract()(inputs)."""
    return _merge(Subtract, inputs, **kwargs)


def multiply(inputs, **kwargs):
    """Multiply()(inputs)."""
    return _merge(Multiply, inputs, **kwargs)


def average(inputs, **kwargs):
    """Average()(inputs)."""
    return _merge(Average, inputs, **kwargs)


def maximum(inputs, **kwargs):
    """Maximum()(inputs)."""
    return _merge(Maximum, inputs, **kwargs)


def concatenate(inputs, axis=-1, **kwargs):
    """Concatenate(axis)(inputs)."""
    return _merge(Concatenate, inputs, axis=axis, **kwargs)

"""Activation functions with Keras's names. Given to a layer
(activation=pyconv.activations.relu) they name the C++ core's activation;
called on an array they compute it in NumPy, as Keras's can be called."""

import math

import numpy as np


def linear(x):
    return np.asarray(x, np.float32)


def relu(x):
    return np.maximum(np.asarray(x, np.float32), 0)


def relu6(x):
    return np.clip(np.asarray(x, np.float32), 0, 6)


def leaky_relu(x, negative_slope=0.2):
    x = np.asarray(x, np.float32)
    return np.where(x > 0, x, negative_slope * x)


def elu(x, alpha=1.0):
    x = np.asarray(x, np.float32)
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def selu(x):
    return 1.0507009873554805 * elu(x, 1.6732632423543772)


def sigmoid(x):
    x = np.asarray(x, np.float32)
    return (0.5 * (1 + np.tanh(0.5 * x))).astype(np.float32)


def hard_sigmoid(x):
    return np.clip(np.asarray(x, np.float32) / 6 + 0.5, 0, 1)


def tanh(x):
    return np.tanh(np.asarray(x, np.float32))


def softplus(x):
    return np.logaddexp(0, np.asarray(x, np.float32)).astype(np.float32)


def swish(x):
    x = np.asarray(x, np.float32)
    return x * sigmoid(x)


silu = swish


def gelu(x):
    x = np.asarray(x, np.float32)
    erf = np.frompyfunc(math.erf, 1, 1)
    return (0.5 * x * (1 + erf(x / math.sqrt(2)).astype(np.float64))).astype(np.float32)


def softmax(x, axis=-1):
    x = np.asarray(x, np.float32)
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


_NAMES = {f.__name__: f for f in (linear, relu, relu6, leaky_relu, elu, selu, sigmoid,
                                  hard_sigmoid, tanh, softplus, swish, gelu, softmax)}
_NAMES["silu"] = silu


def name_of(activation):
    """The core's name for an activation given as a name, None or one of
    this module's functions."""
    if activation is None:
        return "linear"
    if isinstance(activation, str):
        return activation.lower()
    for name, function in _NAMES.items():
        if activation is function:
            return name
    raise TypeError("activation must be a name such as 'relu', a pyconv.activations function or "
                    f"None, received {activation!r}: activations run in the C++ core, so other "
                    "Python functions cannot be used")


def get(identifier):
    """The NumPy function of an activation name (or the function itself)."""
    return _NAMES[name_of(identifier)]

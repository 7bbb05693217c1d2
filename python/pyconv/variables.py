"""Variable: a view of one weight of a built layer, as Keras hands them out
(layer.weights, layer.kernel, model.trainable_weights). The values live in
the C++ core; a Variable reads them when asked and writes them with assign."""

import numpy as np


class Variable:
    def __init__(self, layer, index, name, shape, trainable):
        self._layer, self._index = layer, index
        self.name = name                      # the weight's own name: "kernel", "bias", ...
        self.path = f"{layer.name}/{name}"    # as Keras 3 names it
        self.shape = tuple(shape)
        self.trainable = trainable
        self.dtype = "float32"

    def numpy(self):
        return self._layer.get_weights()[self._index]

    @property
    def value(self):
        return self.numpy()

    def __array__(self, dtype=None, copy=None):
        value = self.numpy()
        return value if dtype is None else value.astype(dtype)

    def assign(self, value):
        """Sets the weight (same shape); the layer's other weights stay."""
        weights = self._layer.get_weights()
        value = np.asarray(value, dtype=np.float32)
        if value.shape != self.shape:
            raise ValueError(f"{self.path} has shape {self.shape}; assign received an array of "
                             f"shape {value.shape}")
        weights[self._index] = value
        self._layer.set_weights(weights)
        return self

    def __repr__(self):
        return f"<Variable path={self.path}, shape={self.shape}, dtype=float32>"


def layer_variables(layer):
    """The layer's weights as Variables, in the core's order (empty until the
    layer's model is built)."""
    if layer._model is None:
        return []
    info = layer._graph().layer_param_info(layer._index)
    return [Variable(layer, i, name, shape, trainable and not state)
            for i, (name, shape, trainable, state) in enumerate(info)]

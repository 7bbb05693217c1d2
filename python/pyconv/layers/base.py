"""Layer: a description of one layer (its Keras arguments). The weights and the
math live in the C++ graph that `Sequential.compile`/`build` creates; a layer
attached to a built model reads and writes its weights there."""

import re

from .. import _core
from ..variables import layer_variables

_name_counts = {}


def _snake_case(name):
    """Keras's naming: Conv2D -> conv2d, MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _unique_name(base):
    count = _name_counts.get(base, 0)
    _name_counts[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def _size(shape):
    size = 1
    for d in shape:
        size *= d
    return size


def normalize_tuple(value, n, name, allow_zero=False):
    """An int or a sequence of `n` ints as a tuple of ints, as Keras accepts."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = (value,) * n
    try:
        value = tuple(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer or a tuple of {n} integers, "
                        f"received {value!r}") from None
    if len(value) != n or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise ValueError(f"{name} must be an integer or a tuple of {n} integers, "
                         f"received {value!r}")
    low = 0 if allow_zero else 1
    if any(v < low for v in value):
        raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'}, "
                         f"received {value!r}")
    return value


def normalize_activation(activation):
    from ..activations import name_of

    return name_of(activation)


def _describe(value):
    """A short description of what a layer was called on (never a whole array)."""
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"a {type(value).__name__} of shape {tuple(shape)}"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


class Layer:
    """Base class. Subclasses set `core_type` and fill `_args` with their Keras
    arguments; `core_config()` is what the C++ core builds from."""

    core_type = None

    def __init__(self, name=None, input_shape=None, trainable=True, dtype=None, input_dim=None,
                 activity_regularizer=None):
        if self.core_type is None and not type(self).__name__.startswith("_"):
            raise TypeError(f"{type(self).__name__}: pyconv's layers run in its C++ core, so a "
                            "Layer subclass with its own call() is not supported; build it "
                            "from pyconv's layers (a Sequential, or the functional API)")
        if input_dim is not None:  # Keras's older way to give a vector input's size
            if input_shape is not None:
                raise ValueError("give input_shape or input_dim, not both")
            input_shape = (input_dim,)
        if dtype not in (None, "float32"):
            raise ValueError(f"only dtype='float32' is supported, received {dtype!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a string, received {name!r}")
        if not isinstance(trainable, bool):
            raise TypeError(f"trainable must be True or False, received {trainable!r}")
        self.name = name or _unique_name(_snake_case(type(self).__name__))
        self._trainable = trainable
        self._input_shape = tuple(input_shape) if input_shape is not None else None
        self._args = {}
        # Keras's activity_regularizer, as the l1 and l2 factors the core reads.
        from .. import regularizers

        reg = regularizers.get(activity_regularizer)
        self._activity = reg.core_attrs("activity_regularizer") if reg and (reg.l1 or reg.l2) \
            else {}
        self._model = None  # (model, node index) once the model is built
        self._index = None
        self._calls = []  # the KerasTensor of each call (functional API)

    def __call__(self, inputs):
        """The functional API: this layer applied to a symbolic tensor (or a
        list of them, for merge layers), as a new symbolic tensor."""
        from .core import KerasTensor

        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        if not tensors or not all(isinstance(t, KerasTensor) for t in tensors):
            raise TypeError(f"layer '{self.name}' was called on {_describe(inputs)}; layers are "
                            "called on symbolic tensors (pyconv.Input(...) or another layer's "
                            "output) to build a model; to compute on arrays, put the layer in "
                            "a model: pyconv.Sequential([pyconv.Input(shape), layer])(x)")
        if any(hasattr(t, "pool") and hasattr(t, "source") for t in tensors):
            raise TypeError(f"layer '{self.name}' was called on pooling indices; only "
                            "MaxUnpooling2D takes them")
        if self._model is not None:
            raise ValueError(f"layer '{self.name}' already belongs to model "
                             f"'{self._model.name}'; create a new layer")
        shapes = [tuple(t.shape[1:]) for t in tensors]
        if self._calls:  # a second call shares the weights: same input shapes
            first = [tuple(t.shape[1:]) for t in self._calls[0]._inputs]
            if shapes != first:
                raise ValueError(f"layer '{self.name}' was first called on input shape(s) "
                                 f"{first} and now on {shapes}; a layer called again shares "
                                 "its weights and must get inputs of the same shapes")
        out, _ = _core.layer_info(self.core_config(),
                                  shapes if isinstance(inputs, (list, tuple)) else shapes[0])
        return self._record_call(KerasTensor((None,) + tuple(out), layer=self, inputs=tensors))

    def _record_call(self, tensor):
        self._calls.append(tensor)
        return tensor

    @property
    def _output(self):
        return self._calls[0] if self._calls else None

    @property
    def output(self):
        """The symbolic tensor this layer produced when called (functional API);
        for a layer called several times, that of its first call (as Keras)."""
        if not self._calls:
            raise AttributeError(f"layer '{self.name}' has not been called on a tensor, so it "
                                 "has no output yet")
        return self._calls[0]

    @property
    def input(self):
        """The symbolic tensor(s) this layer was called on (first call)."""
        tensors = self.output._inputs
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def trainable(self):
        """False freezes the layer's weights: fit leaves them as they are."""
        return self._trainable

    @trainable.setter
    def trainable(self, value):
        if not isinstance(value, bool):
            raise TypeError(f"trainable must be True or False, received {value!r}")
        if self._model is not None:
            self._graph().set_trainable(self._index, value)
        self._trainable = value

    def _check_owner(self, model):
        """A layer belongs to one model: its weights live in that model's graph."""
        if self._model is not None and self._model is not model:
            raise ValueError(f"layer '{self.name}' already belongs to model "
                             f"'{self._model.name}' and holds its weights there; for a model "
                             "of its first layers with their weights, make one from its tensors "
                             "(pyconv.Model(model.inputs, layer.output) copies them), or create "
                             "a new layer (type(layer).from_config(layer.get_config()))")

    def build(self, input_shape=None):
        """Keras builds a lone layer's weights here; pyconv makes them with the model."""
        raise ValueError(f"layer '{self.name}': a layer's weights are made with its model; put "
                         "it in one (pyconv.Sequential([pyconv.Input(shape), layer]))")

    def _set_inference_mode(self):
        """Runs as at inference in training too (dropout, batch normalization
        called with training=False); only before the layer is in a model."""
        self._args["inference_mode"] = True
        self._validate()

    def _attach(self, model, index):
        """Binds the layer to the built model that holds its weights."""
        self._check_owner(model)
        self._model, self._index = model, index
        model._graph.set_trainable(index, self._trainable)
        moved = getattr(self, "_moved_weights", None)
        if moved:  # weights it brought from the model it was nested in
            self._moved_weights = None
            self.set_weights(moved)

    def _validate(self):
        """Checks the arguments in the C++ core (one set of rules for every front end),
        after turning initializer objects into the names the core knows."""
        from .. import initializers

        for key, value in self._args.items():
            if key.endswith("_initializer"):
                self._args[key] = initializers.name_of(value)
        _core.validate_layer(self.core_config())

    def core_config(self):
        return {"type": self.core_type, "name": self.name, **self._args, **self._activity}

    # The Keras argument whose regularizer applies to the layer's kernel(s).
    _kernel_regularizer_arg = "kernel_regularizer"

    def _set_regularizers(self, kernel=None, bias=None, kernel_constraint=None,
                          bias_constraint=None):
        """Puts kernel/bias regularizers into the core config (as the l1 and
        l2 factors the C++ core reads), and their constraints (as specs)."""
        from .. import constraints, regularizers

        for prefix, value in (("kernel_regularizer", kernel), ("bias_regularizer", bias)):
            reg = regularizers.get(value)
            if reg is not None and (reg.l1 or reg.l2):
                self._args.update(reg.core_attrs(prefix))
        for key, value in (("kernel_constraint", kernel_constraint),
                           ("bias_constraint", bias_constraint)):
            if value is not None:
                self._args[key] = constraints.spec_of(value)

    @classmethod
    def _fold_regularizers(cls, config):
        """Core-config keys kernel_regularizer_l1/_l2 (and bias_) back into
        Keras's kernel_regularizer={'l1': .., 'l2': ..}, and a depthwise
        layer's kernel_constraint into its depthwise_constraint."""
        config = dict(config)
        for prefix, arg in (("kernel_regularizer", cls._kernel_regularizer_arg),
                            ("bias_regularizer", "bias_regularizer"),
                            ("activity_regularizer", "activity_regularizer")):
            l1, l2 = config.pop(f"{prefix}_l1", None), config.pop(f"{prefix}_l2", None)
            if l1 is not None or l2 is not None:
                config[arg] = {"l1": l1 or 0.0, "l2": l2 or 0.0}
        if "kernel_constraint" in config:
            config[cls._kernel_regularizer_arg.replace("regularizer", "constraint")] = \
                config.pop("kernel_constraint")
        return config

    def get_config(self):
        config = self._fold_regularizers(
            {"name": self.name, "trainable": self.trainable, **self._args, **self._activity})
        if self._input_shape is not None:
            config["input_shape"] = self._input_shape
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**cls._fold_regularizers(config))

    def compute_output_shape(self, input_shape):
        """Output shape for an input shape with a leading batch axis (may be None)."""
        batch, sample = input_shape[0], tuple(input_shape[1:])
        out, _ = _core.layer_info(self.core_config(), sample)
        return (batch,) + tuple(out)

    def _param_shapes(self, input_shape):
        """[(name, shape, is_state)] for this per-sample input shape (a list of
        shapes for several inputs)."""
        shape = input_shape if isinstance(input_shape, list) else tuple(input_shape)
        return _core.layer_info(self.core_config(), shape)[1]

    def count_params(self, input_shape=None):
        """Weights of the built layer, or for this per-sample input shape (a
        list of shapes for several inputs)."""
        if input_shape is None:
            if self._model is None:
                raise ValueError(f"You called count_params on layer '{self.name}', but the layer "
                                 "isn't built: add it to a model with an input shape first, or "
                                 "pass the per-sample input shape")
            return sum(_size(v.shape) for v in self.weights)
        return sum(_size(shape) for _, shape, _ in self._param_shapes(input_shape))

    @property
    def weights(self):
        """The layer's weights as Variables: trainable ones first, as Keras lists them."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        return [v for v in layer_variables(self) if v.trainable]

    @property
    def non_trainable_weights(self):
        return [v for v in layer_variables(self) if not v.trainable]

    def _variable(self, name):
        for v in layer_variables(self):
            if v.name == name:
                return v
        raise AttributeError(f"layer '{self.name}' has no weight {name!r}"
                             + ("" if self._model is not None else " until its model is built"))

    @property
    def kernel(self):
        return self._variable("kernel")

    @property
    def bias(self):
        return self._variable("bias")

    def _non_trainable_count(self, input_shape):
        """Weights fit leaves alone: all of a frozen layer's, and any state."""
        if self._model is not None:
            info = self._graph().layer_param_info(self._index)
            return sum(_size(shape) for _, shape, trainable, _ in info if not trainable)
        return sum(_size(shape) for _, shape, state in self._param_shapes(input_shape)
                   if state or not self._trainable)

    @property
    def weights_names(self):
        return self._graph().layer_param_names(self._index)

    def get_weights(self):
        if self._model is None:
            return []
        return self._graph().get_weights(self._index)

    def set_weights(self, weights):
        if self._model is None:
            raise RuntimeError(f"layer '{self.name}' has no weights until its model is built")
        self._graph().set_weights(self._index, list(weights))

    def _graph(self):
        return self._model._graph

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}>"

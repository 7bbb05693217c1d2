"""Model (the functional API) and Sequential: the Keras-style models. Python checks arguments and drives the
epoch loop; each batch is one call into the C++ graph, which runs forward,
loss, backward and the optimizer update with the GIL released."""

import os
import sys

import numpy as np

from . import _core, _random, losses, metrics as metrics_module, optimizers, saving
from .callbacks import CallbackList, History
from .data.pipeline import gather_batch
from .errors import ShapeError
from .layers.base import Layer
from .layers.core import Input, KerasTensor
from .progress import ProgressBar, format_logs

_FLOAT32 = np.dtype(np.float32)
_SPATIAL_TYPES = ("Conv2D", "MaxPooling2D", "AveragePooling2D", "GlobalAveragePooling2D",
                  "GlobalMaxPooling2D")


def _check_batch_size(batch_size):
    if batch_size is None:
        return 32
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
            or batch_size <= 0:
        raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
    return int(batch_size)


def _numeric_array(a, what):
    if a is None:
        raise ValueError(f"{what} is required, received None")
    if not isinstance(a, (np.ndarray, list, tuple, np.generic, int, float)) \
            and not hasattr(a, "__array__") and not hasattr(a, "__array_interface__"):
        # np.asarray would walk a sequence-like object item by item, without
        # end for one whose __getitem__ never raises IndexError.
        raise TypeError(f"{what} must be a NumPy array (or a list of numbers), received "
                        f"{type(a).__name__}; generators and Sequence-like objects are not "
                        "supported: pass the data as arrays")
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, received dtype {a.dtype}")
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(f"{what} must hold at least one sample, received shape {a.shape}")
    return a


def _one_tensor(value, what):
    """The single KerasTensor of Model(inputs=..., outputs=...)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise NotImplementedError(f"a model with {len(value)} {what} is not supported yet; "
                                      f"give one {what[:-1]} tensor")
        value = value[0]
    if not isinstance(value, KerasTensor):
        raise TypeError(f"{what} must be a symbolic tensor (pyconv.Input(...) or a layer's "
                        f"output), received {value!r}")
    return value


def _functional_nodes(inp, out):
    """The layers between `inp` and `out` in topological order, and for each
    the node indices of its inputs (-1: the model input)."""
    order, index = [], {}
    stack = [(out, False)]  # depth first; a layer is placed once its inputs are
    while stack:
        tensor, inputs_placed = stack.pop()
        layer = tensor._layer
        if layer is None:
            if tensor is not inp:
                raise ValueError(f"the model's output depends on {tensor!r}, which is not the "
                                 "model's input (a disconnected input): pass it in inputs=, or "
                                 "build the graph from the model's Input")
            continue
        if id(layer) in index:
            continue
        if inputs_placed:
            index[id(layer)] = len(order)
            order.append(layer)
            continue
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(tensor._inputs))
    if not order:
        raise ValueError("the model has no layers: its output is its input")
    inbound = [[-1 if t._layer is None else index[id(t._layer)] for t in layer._output._inputs]
               for layer in order]
    return order, inbound


class Model:
    """A model made with the functional API, and the base of Sequential; both
    train, evaluate, predict and save through the same methods.

        inp = pyconv.Input(shape=(28, 28, 1))
        x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
        y = layers.Conv2D(16, 3, padding="same")(x)
        x = layers.Add()([x, y])                       # a skip connection
        out = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
        model = pyconv.Model(inp, out)
    """

    def __init__(self, inputs=None, outputs=None, name=None):
        self._init_fields(name or "model")
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs) needs the model's Input tensor and its "
                            "output tensor (for a plain stack of layers, use Sequential)")
        inp, out = _one_tensor(inputs, "inputs"), _one_tensor(outputs, "outputs")
        layer_list, inbound = _functional_nodes(inp, out)
        names = [layer.name for layer in layer_list]
        for layer in layer_list:
            if names.count(layer.name) > 1:
                raise ValueError(f"all layers must have unique names; '{layer.name}' is used "
                                 "twice")
            layer._check_owner(self)
        graph = _core.Graph.dag([(l.core_config(), ins) for l, ins in zip(layer_list, inbound)],
                                inp.shape[1:], _random.next_seed())
        self._inputs, self._outputs = inp, out
        self._adopt_graph(graph, layer_list)

    def _init_fields(self, name):
        self.name = name
        self.layers = []
        self._input_shape = None  # per sample, without the batch axis
        self._shapes = []         # per-sample output shape of each layer
        self._graph = None
        self._inputs = self._outputs = None  # the functional API's tensors
        self.optimizer = None
        self.loss = None
        self._metrics = None      # None until compile()
        self.stop_training = False
        self.history = None
        self._shuffle_rng = None  # the model's own, so a saved model resumes its shuffling

    def _init_from_graph(self, graph, layer_list, name):
        """Makes this (new) object the functional model of a graph loaded from a
        file, with its symbolic tensors rebuilt so that layer.output works."""
        self._init_fields(name or "model")
        inp = Input(tuple(graph.input_shape))
        tensors = []
        for i, layer in enumerate(layer_list):
            ins = [inp if j < 0 else tensors[j] for j in graph.node_inputs(i)]
            shape = (None,) + tuple(graph.layer_output_shape(i))
            layer._output = KerasTensor(shape, layer=layer, inputs=ins)
            tensors.append(layer._output)
        self._inputs, self._outputs = inp, tensors[-1]
        self._adopt_graph(graph, layer_list)

    def build(self, input_shape=None):
        """A functional model is built when it is made; nothing to do."""

    @property
    def inputs(self):
        return [self._inputs] if self._inputs is not None else None

    @property
    def outputs(self):
        return [self._outputs] if self._outputs is not None else None

    @property
    def input(self):
        return self._inputs

    @property
    def output(self):
        return self._outputs

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` of model.layers."""
        if index is not None:
            if not isinstance(index, int) or not -len(self.layers) <= index < len(self.layers):
                raise ValueError(f"index must be an integer in [0, {len(self.layers)}), "
                                 f"received {index!r}")
            return self.layers[index]
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise ValueError(f"no layer named '{name}' in model '{self.name}'; its layers are: "
                         f"{', '.join(l.name for l in self.layers)}")

    def _adopt_graph(self, graph, layer_list):
        """Takes a built C++ graph (new, or loaded from a file) for these layers."""
        self._graph = graph
        self._input_shape = tuple(graph.input_shape)
        self.layers = list(layer_list)
        self._shapes = [tuple(graph.layer_output_shape(i)) for i in range(len(self.layers))]
        for i, layer in enumerate(self.layers):
            layer._attach(self, i)
        if self._shuffle_rng is None:
            self._shuffle_rng = _random.generator()

    @property
    def built(self):
        return self._graph is not None

    @property
    def input_shape(self):
        return None if self._input_shape is None else (None,) + self._input_shape

    @property
    def output_shape(self):
        return (None,) + self._shapes[-1] if self._shapes else None

    def compile(self, optimizer="rmsprop", loss=None, metrics=None):
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        # Resolve everything before changing anything, so a bad argument leaves
        # the model as it was.
        optimizer, loss = optimizers.get(optimizer), losses.get(loss)
        names = metrics_module.resolve(metrics)
        if self._graph is not None:
            self._compile_graph(optimizer, loss)
        self.optimizer, self.loss, self._metrics = optimizer, loss, names
        if self._graph is None and self._input_shape is not None:
            self.build()

    def _compile_graph(self, optimizer, loss):
        """Gives the C++ graph this loss and optimizer (raises before changing anything)."""
        self._graph.compile(loss.core_config(), optimizer.core_config())
        optimizer._graph = self._graph

    # ----- data checks ----------------------------------------------------------

    def _prepare_x(self, x, check_finite=True):
        """x as a C-contiguous uint8 or float32 array of the model's input shape.

        Training checks finiteness up front so a bad sample cannot stop an epoch
        half-way; prediction changes nothing, so the core's per-batch check is
        enough there (check_finite=False)."""
        x = _numeric_array(x, "x")
        if self._graph is None and self._input_shape is None:
            shape = x.shape[1:]
            first = self.layers[0].core_type if self.layers else None
            if x.ndim == 3 and first in _SPATIAL_TYPES:
                shape += (1,)  # a grayscale batch (N, H, W)
            self.build((None,) + shape)
        expected = self._input_shape
        if x.shape[1:] != expected and expected[-1] == 1 and x.shape[1:] == expected[:-1]:
            x = x[..., np.newaxis]  # grayscale (N, H, W) for an (H, W, 1) model
        if x.shape[1:] != expected:
            raise ShapeError(f"{type(self).__name__} '{self.name}': expected input of shape "
                             f"{(None,) + expected}, received {x.shape}")
        if x.dtype.kind == "f" and x.dtype != np.float32 and x.size and \
                np.isfinite(x).all() and np.abs(x).max() > np.finfo(np.float32).max:
            raise ValueError("x holds values beyond the float32 range "
                             f"(largest magnitude {np.abs(x).max():.3g})")
        if x.dtype not in (np.uint8, np.float32):
            x = x.astype(np.float32)
        if check_finite and x.dtype == np.float32 and not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"x must hold finite values; found {x[tuple(bad)]} at index "
                             f"{tuple(int(i) for i in bad)}")
        return np.ascontiguousarray(x)

    def _prepare_y(self, y, n):
        y = _numeric_array(y, "y")
        if len(y) != n:
            raise ValueError(f"x and y must hold the same number of samples, received {n} "
                             f"and {len(y)}")
        y = np.ascontiguousarray(y, dtype=np.float32)
        if not np.isfinite(y).all():
            raise ValueError("y must hold finite values; found NaN or inf")
        self._graph.check_targets(y)
        return y

    def _require_compiled(self):
        if self._metrics is None:
            raise RuntimeError("the model must be compiled before training or evaluation: "
                               "call model.compile(optimizer, loss, metrics) first")

    # ----- training and inference -----------------------------------------------

    def _logs(self, loss_sum, correct, seen, prefix=""):
        logs = {prefix + "loss": loss_sum / seen}
        for name in self._metrics:
            logs[prefix + name] = correct / seen
        return logs

    def _batches(self, n, batch_size, order=None):
        for start in range(0, n, batch_size):
            yield (np.arange(start, min(start + batch_size, n)) if order is None
                   else order[start:start + batch_size])

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0):
        """Trains for `epochs` epochs and returns a History."""
        self._require_compiled()
        batch_size = _check_batch_size(batch_size)
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), received {validation_split}")
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a tuple (x_val, y_val)")
            x_val = self._prepare_x(validation_data[0])
            y_val = self._prepare_y(validation_data[1], len(x_val))
        elif validation_split > 0:
            split = int(len(x) * (1.0 - validation_split))  # Keras: the last part, unshuffled
            if split == 0 or split == len(x):
                raise ValueError(f"validation_split={validation_split} leaves no samples for "
                                 f"training or validation out of {len(x)}")
            x, x_val, y, y_val = x[:split], x[split:], y[:split], y[split:]
        else:
            x_val = y_val = None
        verbose = 1 if verbose == "auto" else int(verbose)
        steps = -(-len(x) // batch_size)
        history = History()
        cbs = CallbackList([history] + list(callbacks or []), self,
                           {"epochs": epochs, "steps": steps, "verbose": verbose})
        rng = self._shuffle_rng
        self.stop_training = False
        # This thread is the model's trainer until fit returns: another
        # thread's fit or set_weights gets a RuntimeError meanwhile.
        self._graph.begin_training()
        try:
            self._fit_epochs(x, y, x_val, y_val, batch_size, epochs, initial_epoch, verbose,
                             shuffle, steps, rng, cbs)
        finally:
            self._graph.end_training()
        self.history = history
        return history

    def _fit_epochs(self, x, y, x_val, y_val, batch_size, epochs, initial_epoch, verbose,
                    shuffle, steps, rng, cbs):
        cbs.on_train_begin()
        for epoch in range(initial_epoch, epochs):
            cbs.on_epoch_begin(epoch)
            if verbose:
                print(f"Epoch {epoch + 1}/{epochs}", flush=True)
            bar = ProgressBar(steps) if verbose == 1 else None
            order = rng.permutation(len(x)) if shuffle else None
            loss_sum = correct = seen = 0
            for step, idx in enumerate(self._batches(len(x), batch_size, order)):
                cbs.on_train_batch_begin(step)
                loss, right = self._graph.train_step(gather_batch(x, idx), y[idx])
                loss_sum += loss * len(idx)
                correct += right
                seen += len(idx)
                logs = self._logs(loss_sum, correct, seen)
                cbs.on_train_batch_end(step, logs)
                if bar:
                    bar.update(step + 1, logs)
                if self.stop_training:
                    break
            if x_val is not None:
                logs.update(self._evaluate(x_val, y_val, batch_size, prefix="val_"))
            if bar:
                bar.finish(logs)
            elif verbose == 2:
                print(f"{steps}/{steps}{format_logs(logs)}", flush=True)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        cbs.on_train_end()

    def _evaluate(self, x, y, batch_size, prefix=""):
        loss_sum = correct = 0
        for idx in self._batches(len(x), batch_size):
            loss, right = self._graph.test_step(gather_batch(x, idx), y[idx])
            loss_sum += loss * len(idx)
            correct += right
        return self._logs(loss_sum, correct, len(x), prefix)

    def _results(self, logs, return_dict):
        if return_dict:
            return logs
        values = list(logs.values())
        return values[0] if len(values) == 1 else values

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", return_dict=False):
        """The loss (and metrics) over the data: a scalar, a list, or a dict."""
        self._require_compiled()
        batch_size = _check_batch_size(batch_size)
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        logs = self._evaluate(x, y, batch_size)
        if verbose not in (0, "auto") or (verbose == "auto" and sys.stdout.isatty()):
            print(f"{-(-len(x) // batch_size)} steps{format_logs(logs)}", flush=True)
        return self._results(logs, return_dict)

    def _fits_graph(self, x, batch_size):
        """True when x can go to the C++ graph as it is: a non-empty C-contiguous
        float32 ndarray of the model's input shape, in one batch. The graph
        still checks its shape and that every value is finite (in C++, where
        that is one cheap pass); every other input takes _prepare_x."""
        return (type(x) is np.ndarray and x.dtype == _FLOAT32 and x.flags.c_contiguous
                and self._graph is not None and 0 < len(x) <= batch_size
                and x.shape[1:] == self._input_shape)

    def predict(self, x, batch_size=None, verbose="auto"):
        """Model outputs for x, computed batch by batch, as one float32 array."""
        batch_size = _check_batch_size(batch_size)
        if self._fits_graph(x, batch_size):
            return self._graph.predict(x)  # one batch, nothing to convert
        x = self._prepare_x(x, check_finite=False)
        self._require_built()
        if len(x) <= batch_size and x.dtype == np.float32:
            return self._graph.predict(x)  # one batch: no gather, no extra copy
        out = np.empty((len(x),) + self._shapes[-1], dtype=np.float32)
        for idx in self._batches(len(x), batch_size):
            out[idx[0]:idx[-1] + 1] = self._graph.predict(gather_batch(x, idx))
        return out

    def train_on_batch(self, x, y, return_dict=False):
        """One optimizer step on one batch; returns its loss (and metrics)."""
        self._require_compiled()
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        loss, right = self._graph.train_step(gather_batch(x, np.arange(len(x))), y)
        return self._results(self._logs(loss * len(x), right, len(x)), return_dict)

    def test_on_batch(self, x, y, return_dict=False):
        self._require_compiled()
        x = self._prepare_x(x)
        y = self._prepare_y(y, len(x))
        return self._results(self._evaluate(x, y, len(x)), return_dict)

    def predict_on_batch(self, x):
        if type(x) is np.ndarray and x.ndim and self._fits_graph(x, len(x)):
            return self._graph.predict(x)
        return self.predict(x, batch_size=len(np.asarray(x)) or 1)

    # ----- saving ---------------------------------------------------------------------

    def save(self, filepath, overwrite=True):
        """Writes the whole model (layers, weights, optimizer state, training
        step) to one .pcv file, atomically: see pyconv.models.load_model."""
        self._require_built()
        path = saving.check_path(filepath, overwrite)
        saving.store_python_meta(self)
        self._graph.save(path)

    def save_weights(self, filepath, overwrite=True):
        """Writes the model to a .pcv file; load_weights reads its weights back."""
        self.save(filepath, overwrite)

    def load_weights(self, filepath):
        """Replaces the weights, layer by layer in order, with those of the
        model saved at filepath (shapes must match; nothing changes otherwise)."""
        self._require_built()
        self._graph.load_weights(os.fspath(filepath))

    def __getstate__(self):
        # pickle, copy.deepcopy and multiprocessing go through the .pcv bytes.
        if self._graph is None:
            return dict(self.__dict__)
        saving.store_python_meta(self)
        return {"pcv": self._graph.to_bytes()}

    def __setstate__(self, state):
        if "pcv" not in state:
            self.__dict__.update(state)
            return
        saving.restore(self, _core.load_graph_bytes(state["pcv"]))

    # ----- weights and description ------------------------------------------------

    def get_weights(self):
        """All weights, layer by layer, in Keras layouts."""
        self._require_built()
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        self._require_built()
        weights = list(weights)
        counts = [len(self._graph.layer_param_names(i)) for i in range(len(self.layers))]
        if len(weights) != sum(counts):
            raise ValueError(f"expected a list of {sum(counts)} weight arrays, received "
                             f"{len(weights)}")
        current = self.get_weights()
        for i, (old, new) in enumerate(zip(current, weights)):
            new_shape = np.shape(new)
            if tuple(new_shape) != old.shape:  # check all before changing any
                raise ShapeError(f"expected weight {i} of shape {old.shape}, received "
                                 f"{tuple(new_shape)}; no weights were changed")
        start = 0
        for layer, count in zip(self.layers, counts):
            layer.set_weights(weights[start:start + count])
            start += count

    def count_params(self):
        self._require_built()
        return sum(int(np.prod(w.shape)) for w in self.get_weights())

    def _require_built(self):
        if self._graph is None:
            if self._input_shape is None:
                raise ValueError("the model is not built yet: give it an input shape "
                                 "(pyconv.Input(shape=...)) or call build() or fit() first")
            self.build()

    def summary(self, print_fn=None):
        """Prints each layer's output shape and parameter count, and the totals."""
        print_fn = print_fn or print
        if self._input_shape is None:
            raise ValueError("the model is not built yet: give it an input shape "
                             "(pyconv.Input(shape=...)) or call build() first")
        functional = self._inputs is not None
        rows, total, frozen, previous = [], 0, 0, self._input_shape
        for i, (layer, shape) in enumerate(zip(self.layers, self._shapes)):
            sources = list(self._graph.node_inputs(i)) if functional else [i - 1]
            shapes = [self._input_shape if j < 0 else self._shapes[j] for j in sources]
            ins = shapes[0] if len(shapes) == 1 else shapes
            count = layer.count_params(ins)
            total += count
            frozen += layer._non_trainable_count(ins)
            row = (f"{layer.name} ({type(layer).__name__})", str((None,) + shape), f"{count:,}")
            if functional:
                row += (", ".join("input" if j < 0 else self.layers[j].name for j in sources),)
            rows.append(row)
            previous = shape
        headers = ("Layer (type)", "Output Shape", "Param #", "Connected to")
        widths = (33, 26, 12, 30)[:4 if functional else 3]
        line = "".join(f"{h:<{w}}" for h, w in zip(headers, widths))
        print_fn(f'Model: "{self.name}"')
        print_fn("_" * sum(widths))
        print_fn(line)
        print_fn("=" * sum(widths))
        for row in rows:
            print_fn("".join(f"{c:<{w}}" for c, w in zip(row, widths)))
        print_fn("=" * sum(widths))
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {total - frozen:,}")
        print_fn(f"Non-trainable params: {frozen:,}")
        print_fn("_" * sum(widths))

    def get_config(self):
        return {"name": self.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config(),
                            "inbound_nodes": list(self._graph.node_inputs(i))}
                           for i, l in enumerate(self.layers)]}


class Sequential(Model):
    """A linear stack of layers: `Sequential([Input((28, 28, 1)), Conv2D(...), ...])`."""

    def __init__(self, layers=None, name=None):
        self._init_fields(name or "sequential")
        for layer in layers or []:
            self.add(layer)

    def add(self, layer):
        """Appends a layer; shapes are checked as soon as the input shape is known."""
        if isinstance(layer, Input):
            if self.layers or self._input_shape is not None:
                raise ValueError("Input must be the first entry of a Sequential model")
            self._input_shape = tuple(layer.shape[1:])
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"expected a pyconv layer, received {layer!r}")
        if getattr(layer, "return_indices", False):
            raise ValueError(f"layer '{layer.name}' returns pooling indices, which only a "
                             "functional model (pyconv.Model) can pass on to MaxUnpooling2D")
        if self._graph is not None:
            raise RuntimeError("cannot add layers to a model that is already built")
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"all layers must have unique names; '{layer.name}' is used twice")
        if not self.layers and self._input_shape is None and layer._input_shape is not None:
            self._input_shape = layer._input_shape
        if self._input_shape is not None:
            previous = self._shapes[-1] if self._shapes else self._input_shape
            out, _ = _core.layer_info(layer.core_config(), previous)
            self._shapes.append(tuple(out))
        self.layers.append(layer)

    def build(self, input_shape=None):
        """Creates the C++ graph and initial weights. input_shape includes the
        batch axis, as in Keras: build((None, 28, 28, 1))."""
        if self._graph is not None:
            return
        if input_shape is not None:
            self._input_shape = tuple(int(d) for d in tuple(input_shape)[1:])
        if self._input_shape is None:
            raise ValueError("the model's input shape is unknown: start it with "
                             "pyconv.Input(shape=...), give the first layer input_shape=, "
                             "or call build((None, ...))")
        if not self.layers:
            raise ValueError("the model has no layers")
        for layer in self.layers:  # before anything is built, so a refusal changes nothing
            layer._check_owner(self)
        graph = _core.Graph([l.core_config() for l in self.layers], self._input_shape,
                            _random.next_seed())
        self._adopt_graph(graph, self.layers)
        self._shuffle_rng = _random.generator()
        if self._metrics is not None:
            self._compile_graph(self.optimizer, self.loss)

    def get_config(self):
        return {"name": self.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                           for l in self.layers]}


def load_model(filepath):
    """The model saved at filepath by `model.save(filepath)` (or by a C/C++
    program), ready to predict or to continue training."""
    return saving.load_model(filepath)

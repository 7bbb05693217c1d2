"""Model (the functional API) and Sequential: the Keras-style models. Python checks arguments and drives the
epoch loop; each batch is one call into the C++ graph, which runs forward,
loss, backward and the optimizer update with the GIL released."""

import contextlib
import copy
import itertools
import json
import os
import warnings

import numpy as np

from . import _core, _random, functional, losses, metrics as metrics_module, optimizers, saving
from .callbacks import CallbackList, History
from .data import py_dataset
from .data.pipeline import gather_batch
from .errors import ShapeError
from .layers.base import Layer, _unique_name
from .layers.core import BatchNormalization, Dropout, Input, KerasTensor
from .layers.preprocessing import RANDOM_LAYERS as _AUGMENTATIONS
from .progress import ProgressBar, format_logs

_MAX_INT64 = 2 ** 63 - 1  # the graph takes batch sizes as int64
# Where a Sequential's layers go when it is called on a symbolic tensor.
_SYMBOLIC_DESTINATION = "the functional model built from its output"
# Layers that act differently in training: model(x, training=True) cannot run them.
_TRAINING_MODAL = (BatchNormalization, Dropout)
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
                        f"{type(a).__name__}; for data given batch by batch, subclass "
                        "pyconv.utils.PyDataset or pass a generator")
    a = np.asarray(a)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{what} must be a numeric array, received dtype {a.dtype}")
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(f"{what} must hold at least one sample, received shape {a.shape}")
    return a


def _check_steps(steps, what):
    if steps is None:
        return None
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"{what} must be a positive integer or None, received {steps!r}")
    return int(steps)


def with_channel_axis(x, input_shape):
    """A grayscale batch (N, H, W) as (N, H, W, 1) for an (H, W, 1) model
    (fit, predict and quantize take it so)."""
    if input_shape[-1:] == (1,) and x.shape[1:] == tuple(input_shape[:-1]):
        return x[..., np.newaxis]
    return x


def _sample_weights(sample_weight, n):
    """A float32 (n,) array of weights >= 0, or None."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, (dict, list, tuple)) and any(
            np.ndim(v) > 0 for v in (sample_weight.values() if isinstance(sample_weight, dict)
                                     else sample_weight)):
        raise ValueError("sample_weight takes one array of weights for all outputs (one weight "
                         "per sample); per-output sample weights (a dict or list of arrays) are "
                         "not supported: weigh the outputs with compile(loss_weights=...)")
    w = np.asarray(sample_weight)
    if w.dtype.kind not in "iuf" or w.ndim > 2 or (w.ndim == 2 and w.shape[1] != 1):
        raise ValueError(f"sample_weight must be a numeric array of one weight per sample, shape "
                         f"({n},), received {w.dtype} of shape {w.shape}")
    w = np.ascontiguousarray(w.reshape(-1), dtype=np.float32)
    if len(w) != n:
        raise ValueError(f"sample_weight must hold one weight per sample ({n}), received {len(w)}")
    if not (np.isfinite(w).all() and (w >= 0).all()):
        raise ValueError("sample_weight must hold finite weights >= 0")
    return w


def _class_weights_to_samples(y, class_weight):
    """Keras's class_weight {class: weight} as per-sample weights: each
    sample's class from its label (or one-hot row); classes not listed weigh 1."""
    if not isinstance(class_weight, dict):
        raise TypeError(f"class_weight must be a dict {{class index: weight}}, received "
                        f"{type(class_weight).__name__}")
    labels = y.argmax(-1) if y.ndim > 1 and y.shape[-1] > 1 else y.reshape(len(y))
    labels = np.round(labels).astype(np.int64)
    return np.array([class_weight.get(int(c), 1.0) for c in labels], dtype=np.float32)


class _Data:
    """Prepared arrays of fit or evaluate: inputs, targets, sample weights (or None)."""

    def __init__(self, xs, ys, sw):
        self.xs, self.ys, self.sw = xs, ys, sw

    def __len__(self):
        return len(self.xs[0])

    def take(self, idx):
        """(inputs, targets, weights) of the samples idx, as _step takes them."""
        return ([gather_batch(a, idx) for a in self.xs], [a[idx] for a in self.ys],
                None if self.sw is None else self.sw[idx])

    def split(self, at):
        part = lambda sl: _Data([a[sl] for a in self.xs], [a[sl] for a in self.ys],
                                None if self.sw is None else self.sw[sl])
        return part(slice(None, at)), part(slice(at, None))


def _index_batches(n, batch_size, order=None):
    """The sample indices of each batch of [0, n): in order, or in `order`."""
    for start in range(0, n, batch_size):
        yield (np.arange(start, min(start + batch_size, n)) if order is None
               else order[start:start + batch_size])


class _ArrayBatches:
    """Batches of arrays (a _Data), shuffled per epoch when given a generator."""

    def __init__(self, data, batch_size):
        self.data, self.batch_size = data, batch_size
        self.steps = -(-len(data) // batch_size)
        self._order, self._next = None, 0  # carry_on: the pass under way, its next batch
        self._pass_rng = None  # the shuffling generator's state when that pass drew its order

    def pass_state(self):
        """Where the pass under way is (a backup resumes it): the generator's
        state its order was drawn from (None: unshuffled), and its next batch."""
        return {"rng": self._pass_rng, "next": self._next}

    def resume_pass(self, state):
        """The pass of pass_state() under way again, its order drawn anew."""
        n = len(self.data)
        self._pass_rng, self._next = state["rng"], state["next"]
        self._order = None
        if self._pass_rng is not None:
            rng = np.random.default_rng()
            rng.bit_generator.state = self._pass_rng
            self._order = rng.permutation(n)

    def epoch(self, steps=None, rng=None, carry_on=False):
        """This epoch's batches: the first `steps` of a new pass over the data;
        with carry_on (fit's steps_per_epoch, as Keras 3 does), the next
        `steps` of the pass under way, ending the epoch early where that pass
        ends, and starting a new (reshuffled) pass the epoch after."""
        n = len(self.data)
        if self._next == 0 or not carry_on:
            self._pass_rng = rng.bit_generator.state if rng is not None else None
            self._order, self._next = (rng.permutation(n) if rng is not None else None), 0
        first = self._next
        last, self._next = py_dataset.epoch_span(first, steps, self.steps, carry_on)
        for idx in itertools.islice(_index_batches(n, self.batch_size, self._order), first, last):
            yield self.data.take(idx)

    def close(self):
        pass


class _StreamBatches:
    """Batches from a PyDataset or a generator, each checked as arrays are."""

    def __init__(self, stream, prepare):
        self.stream, self.prepare = stream, prepare
        self.steps = stream.steps

    def epoch(self, steps=None, rng=None, carry_on=False):
        for raw in self.stream.epoch(steps, carry_on):
            data = self.prepare(*py_dataset.unpack_batch(raw))
            yield data.take(np.arange(len(data)))

    def close(self):
        self.stream.close()


def _copies_of_nested(model, layers):
    """The layers of a new functional model; those that already hold their
    weights in another model (a feature extractor made from a model's
    tensors) come as copies holding those weights: one model's weights live
    in one C++ graph, where Keras would share them."""
    copies, owners = {}, []
    for layer in layers:
        if layer._model is not None and layer._model is not model and id(layer) not in copies:
            copy = type(layer).from_config(layer.get_config())
            copy.trainable = layer.trainable
            copy._moved_weights = layer.get_weights()
            copies[id(layer)] = copy
            owners.append(layer._model.name)
    if owners:
        warnings.warn(f"the new model copies {len(owners)} layer(s) of model "
                      f"'{owners[0]}' with their current weights: pyconv does not share "
                      "weights between models, so training one leaves the other as it is",
                      stacklevel=3)
    return [copies.get(id(layer), layer) for layer in layers]


def _verbosity(verbose):
    """Keras's verbose: "auto" is 1 (a progress bar), else 0, 1 or 2."""
    return 1 if verbose == "auto" else int(verbose)


def _one_batch_done(out, bar):
    if bar:
        bar.finish({})
    return out


class _FitPlan:
    """fit's settings for its epoch loop."""

    def __init__(self, epochs, initial_epoch, verbose, shuffle, steps, validation_steps,
                 validation_freq, carry_on):
        self.epochs, self.initial_epoch = epochs, initial_epoch
        self.verbose, self.shuffle, self.steps = verbose, shuffle, steps
        self.carry_on = carry_on  # steps_per_epoch given: epochs go on through the data
        self.validation_steps, self.validation_freq = validation_steps, validation_freq


class _LogSums:
    """Running sums of one pass over the data: the total loss, and each
    output's loss and correct count, weighted by the batch sizes; and the
    metric objects computed from the outputs (per output, reset here), which
    the step then hands back. As in Keras 3, `metric_objects` (compile's
    metrics) are unweighted and `weighted` (its weighted_metrics) take the
    sample weights."""

    def __init__(self, outputs, metric_objects=None, weighted=None):
        self.loss = 0.0
        self.losses = [0.0] * outputs
        self.correct = [0] * outputs
        self.abs_error = [0.0] * outputs      # sums over every output element
        self.squared_error = [0.0] * outputs
        self.seen = 0
        # The objects the core does not sum (those with a core_name it does).
        per_output = [[m for m in per if not m.core_name]
                      for per in (metric_objects or [[] for _ in range(outputs)])]
        self.weighted = [list(per or []) for per in (weighted or [[] for _ in range(outputs)])]
        # Top-k accuracies the step counts (from unweighted batches); the
        # other objects need the outputs.
        self.top_k = [[m for m in per if m.core_top_k] for per in per_output]
        self.streams = [[m for m in per if not m.core_top_k] for per in per_output]
        for metric in (m for per in per_output + self.weighted for m in per):
            metric.reset_state()

    def step_options(self, weighted):
        """What the step must compute for the metric objects: (outputs, top_k).
        The step's top-k counts follow the sample weights: for a weighted
        batch the top-k objects use the outputs instead."""
        counted = any(self.top_k) and not weighted
        return (self._needs_outputs(weighted),
                [[m.core_top_k for m in per] for per in self.top_k] if counted else None)

    def _needs_outputs(self, weighted):
        return any(self.streams) or any(self.weighted) or (any(self.top_k) and weighted)

    def add(self, n, result, ys, sample_weight):
        loss, losses, correct, abs_error, squared_error = result[:5]
        self.loss += loss * n
        self.seen += n
        for j in range(len(self.losses)):
            self.losses[j] += losses[j] * n
            self.correct[j] += correct[j]
            self.abs_error[j] += abs_error[j]
            self.squared_error[j] += squared_error[j]
        extras = list(result[5:])
        outs = extras.pop(0) if self._needs_outputs(sample_weight is not None) else None
        if outs is not None:
            for j, (y, out) in enumerate(zip(ys, outs)):
                unweighted = self.streams[j] + (self.top_k[j] if sample_weight is not None else [])
                for metric in unweighted:
                    metric.update_state(y, out)
                for metric in self.weighted[j]:
                    metric.update_state(y, out, sample_weight)
        if extras:  # the step's top-k counts (an unweighted batch)
            for metrics, counts in zip(self.top_k, extras.pop(0)):
                for metric, count in zip(metrics, counts):
                    metric.add_counts(count, n)

    def value(self, j, metric, per_sample):
        """A metric's value over what was seen: accuracy, or an error's mean
        over the output's elements (per_sample of them per sample)."""
        if metric in metrics_module.MEAN_ABSOLUTE:
            return self.abs_error[j] / (self.seen * per_sample)
        if metric in metrics_module.MEAN_SQUARED:
            return self.squared_error[j] / (self.seen * per_sample)
        return self.correct[j] / self.seen


class Model:
    """A model made with the functional API, and the base of Sequential; both
    train, evaluate, predict and save through the same methods.

        inp = pyconv.Input(shape=(28, 28, 1))
        x = layers.Conv2D(16, 3, padding="same", activation="relu")(inp)
        y = layers.Conv2D(16, 3, padding="same")(x)
        x = layers.Add()([x, y])                       # a skip connection
        out = layers.Dense(10, activation="softmax")(layers.Flatten()(x))
        model = pyconv.Model(inp, out)

    Several inputs and outputs are lists (or dicts keyed by name) of tensors;
    fit, evaluate and predict then take lists (or dicts) of arrays, and a layer
    called on two tensors shares its weights between the calls.
    """

    def __init__(self, inputs=None, outputs=None, name=None):
        self._init_fields(name or _unique_name("model"))  # model, model_1, ... as Keras numbers them
        if inputs is None or outputs is None:
            raise TypeError("Model(inputs, outputs) needs the model's Input tensor(s) and its "
                            "output tensor(s) (for a plain stack of layers, use Sequential)")
        ins, in_keys = functional.tensor_list(inputs, "inputs")
        outs, out_keys = functional.tensor_list(outputs, "outputs")
        calls, inbound, output_nodes = functional.graph_nodes(ins, outs)
        node_layers = _copies_of_nested(self, [t._layer for t in calls])
        seen = {}
        for layer in node_layers:
            if seen.setdefault(layer.name, layer) is not layer:
                raise ValueError(f"all layers must have unique names; '{layer.name}' is used "
                                 "twice")
            layer._check_owner(self)
        graph = _core.Graph.multi([(l.core_config(), i) for l, i in zip(node_layers, inbound)],
                                  [t.shape[1:] for t in ins], output_nodes, _random.next_seed())
        self._set_tensors(ins, in_keys, outs, out_keys)
        self._adopt_graph(graph, node_layers)

    def _init_fields(self, name):
        self.name = name
        self.layers = []
        self._node_layers = []    # the layer each graph node calls (repeats: shared)
        self._input_shape = None  # per sample, without the batch axis (the first input's)
        self._shapes = []         # per-sample output shape of each node
        self._graph = None
        self._inputs = self._outputs = None  # the functional API's tensors (lists)
        self._input_keys = self._output_keys = None  # None, "list" or a dict's keys
        self.optimizer = None
        self.loss = None
        self._metrics = None      # None until compile(); a list per output if several
        self._weighted_metrics = None  # the same, for compile's weighted_metrics
        self._loss_weights = None
        self._single_io = True    # until a graph of several inputs or outputs is adopted
        self.stop_training = False
        self._initial_epoch = None  # set by a callback's on_train_begin to resume a fit
        self.history = None
        self._shuffle_rng = None  # the model's own, so a saved model resumes its shuffling

    def _set_tensors(self, ins, in_keys, outs, out_keys):
        self._inputs, self._input_keys = list(ins), in_keys
        self._outputs, self._output_keys = list(outs), out_keys

    def _init_from_graph(self, graph, node_layers, name):
        """Makes this (new) object the functional model of a graph loaded from a
        file, with its symbolic tensors rebuilt so that layer.output works."""
        self._init_fields(name or _unique_name("model"))
        ins = [Input(tuple(s)) for s in graph.input_shapes]
        tensors = []
        for i, layer in enumerate(node_layers):
            sources = [ins[-1 - j] if j < 0 else tensors[j] for j in graph.node_inputs(i)]
            shape = (None,) + tuple(graph.layer_output_shape(i))
            tensors.append(layer._record_call(KerasTensor(shape, layer=layer, inputs=sources)))
        outs = [tensors[j] for j in graph.outputs]
        self._set_tensors(ins, None if len(ins) == 1 else "list",
                          outs, None if len(outs) == 1 else "list")
        self._adopt_graph(graph, node_layers)

    def build(self, input_shape=None):
        """A functional model is built when it is made; nothing to do."""

    @property
    def inputs(self):
        return list(self._inputs) if self._inputs is not None else None

    @property
    def outputs(self):
        return list(self._outputs) if self._outputs is not None else None

    @property
    def input(self):
        return self._structure(self._inputs, self._input_keys)

    @property
    def output(self):
        return self._structure(self._outputs, self._output_keys)

    @staticmethod
    def _structure(items, keys):
        """Items (tensors, arrays) in the structure the model was given them."""
        if items is None or keys is None:
            return None if items is None else items[0]
        return dict(zip(keys, items)) if isinstance(keys, list) else list(items)

    @property
    def input_names(self):
        if isinstance(self._input_keys, list):
            return list(self._input_keys)
        if self._inputs is None:
            return ["input"]
        return [t.name or f"input_{k}" for k, t in enumerate(self._inputs)]

    @property
    def output_names(self):
        """Keras's names of the outputs: the dict's keys, else the output layers' names."""
        if isinstance(self._output_keys, list):
            return list(self._output_keys)
        if self._graph is None:
            return []
        return [self._node_layers[j].name for j in self._graph.outputs]

    def get_layer(self, name=None, index=None):
        """The layer called `name`, or at position `index` of model.layers."""
        if (name is None) == (index is None):
            raise ValueError("get_layer takes a layer name or an index, not "
                             + ("both" if name is not None else "neither"))
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

    def _adopt_graph(self, graph, node_layers):
        """Takes a built C++ graph (new, or loaded from a file) whose nodes call
        these layers (a shared layer once per call)."""
        self._graph = graph
        self._input_shape = tuple(graph.input_shape)
        # Read once: predict's fast path asks on every call.
        self._single_io = len(graph.input_shapes) == 1 and len(graph.outputs) == 1
        self._node_layers = list(node_layers)
        self.layers = []
        for i, layer in enumerate(self._node_layers):
            if graph.layer_owner(i) == i:
                self.layers.append(layer)
                layer._attach(self, i)
        self._shapes = [tuple(graph.layer_output_shape(i)) for i in range(len(node_layers))]
        if self._shuffle_rng is None:
            self._shuffle_rng = _random.generator()

    @property
    def built(self):
        return self._graph is not None

    @property
    def _input_shapes(self):
        if self._graph is not None:
            return [tuple(s) for s in self._graph.input_shapes]
        return [self._input_shape]

    @property
    def _output_shapes(self):
        return [self._shapes[j] for j in self._graph.outputs]

    @property
    def input_shape(self):
        if self._input_shape is None:
            return None
        shapes = [(None,) + s for s in self._input_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    @property
    def output_shape(self):
        if not self._shapes:
            return None
        if self._graph is None:
            return (None,) + self._shapes[-1]
        shapes = [(None,) + s for s in self._output_shapes]
        return shapes[0] if len(shapes) == 1 else shapes

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True):
        """Keras's compile. `metrics` are computed unweighted and
        `weighted_metrics` with the sample weights (and class weights), as in
        Keras 3. run_eagerly, jit_compile and auto_scale_loss change nothing
        here (the C++ step always runs as it is, in float32); they are kept
        as attributes for scripts that read them."""
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='sparse_categorical_crossentropy'")
        # Resolve everything before changing anything, so a bad argument leaves
        # the model as it was.
        optimizer = optimizers.get(optimizer)
        names = self.output_names or ["output"]
        loss_list = [losses.get(l) for l in functional.per_output(loss, names, "loss", None)]
        weights = functional.per_output(1.0 if loss_weights is None else loss_weights, names,
                                        "loss_weights", 0.0)
        for w in weights:
            if isinstance(w, bool) or not isinstance(w, (int, float, np.floating, np.integer)) \
                    or not np.isfinite(w) or w < 0:
                raise ValueError(f"loss_weights must be finite numbers >= 0, received {w!r}")
        weights = [float(w) for w in weights]
        metric_names = self._resolve_metrics(metrics, names)
        weighted = self._resolve_metrics(weighted_metrics, names, objects=True)
        if isinstance(steps_per_execution, bool) or steps_per_execution != 1:
            raise ValueError("pyconv runs and reports every step on its own "
                             f"(steps_per_execution=1), received {steps_per_execution!r}")
        self.optimizer, self.loss, self._metrics = optimizer, loss_list, metric_names
        self._weighted_metrics = weighted
        self._loss_weights = weights
        self.run_eagerly, self.jit_compile = bool(run_eagerly), jit_compile
        self.steps_per_execution = 1
        if len(names) == 1:
            self.loss = loss_list[0]
        if self._graph is not None:
            self._compile_graph(optimizer, loss_list, weights)
        elif self._input_shape is not None:
            self.build()

    @staticmethod
    def _resolve_metrics(metrics, names, objects=False):
        """A list of metric names, or for several outputs one list per output:
        a flat list applies to every output, a list of lists or a dict gives
        each output its own. objects=True: metric objects only (the names the
        core sums become their objects, computed from the outputs)."""
        if objects:
            resolve = lambda m: [metrics_module.as_object(n) for n in metrics_module.resolve(m)]
        else:
            resolve = metrics_module.resolve
        if len(names) == 1:
            if isinstance(metrics, dict):
                metrics = functional.per_output(metrics, names, "metrics", None)[0]
            return resolve(metrics)
        if isinstance(metrics, dict) or (isinstance(metrics, (list, tuple)) and metrics and all(
                m is None or isinstance(m, (list, tuple)) for m in metrics)):
            per = functional.per_output(metrics, names, "metrics", None)
        else:  # every output its own copy of the metric objects, as Keras does
            per = [copy.deepcopy(metrics) for _ in names]
        return [resolve(m) for m in per]

    def _compile_graph(self, optimizer, loss_list, weights):
        """Gives the C++ graph these losses and optimizer (raises before changing anything)."""
        if len(loss_list) == 1 and weights[0] == 1.0:
            config = loss_list[0].core_config()
        else:
            config = _core.pack_output_losses([l.core_config() for l in loss_list], weights)
        self._graph.compile(config, optimizer.core_config())
        optimizer._graph = self._graph

    def _loss_list(self):
        return self.loss if isinstance(self.loss, list) else [self.loss]

    def _metric_lists(self, weighted=False):
        """The metric names of each output (weighted: the weighted metrics)."""
        metrics = self._weighted_metrics if weighted else self._metrics
        multi = self._graph is not None and len(self._graph.outputs) > 1
        if metrics is None and weighted:
            return [[] for _ in self._graph.outputs] if multi else [[]]
        return metrics if multi else [metrics]

    # ----- data checks ----------------------------------------------------------

    def _prepare_x(self, x, check_finite=True):
        """x (one array, or a list/dict of arrays for several inputs) as a list
        of C-contiguous uint8 or float32 arrays of the model's input shapes.

        Training checks finiteness up front so a bad sample cannot stop an epoch
        half-way; prediction changes nothing, so the core's per-batch check is
        enough there (check_finite=False)."""
        if self._graph is None and self._input_shape is None:
            first = _numeric_array(x, "x")
            shape = first.shape[1:]
            layer = self.layers[0].core_type if self.layers else None
            if first.ndim == 3 and layer in _SPATIAL_TYPES:
                shape += (1,)  # a grayscale batch (N, H, W)
            self.build((None,) + shape)
        arrays = functional.flatten_data(x, self.input_names, "x")
        shapes = self._input_shapes
        out = [self._prepare_array(a, shapes[k], "x" if len(shapes) == 1 else f"x[{k}]",
                                   check_finite) for k, a in enumerate(arrays)]
        if any(len(a) != len(out[0]) for a in out):
            raise ValueError("every input array must hold the same number of samples, received "
                             f"{[len(a) for a in out]}")
        return out

    def _prepare_array(self, x, expected, what, check_finite):
        x = with_channel_axis(_numeric_array(x, what), expected)
        if x.shape[1:] != expected:
            which = "input" if what == "x" else f"input {what[2:-1]}"
            raise ShapeError(f"{type(self).__name__} '{self.name}': expected {which} of shape "
                             f"{(None,) + expected}, received {x.shape}")
        if x.dtype.kind == "f" and x.dtype != np.float32 and x.size and \
                np.isfinite(x).all() and np.abs(x).max() > np.finfo(np.float32).max:
            raise ValueError(f"{what} holds values beyond the float32 range "
                             f"(largest magnitude {np.abs(x).max():.3g})")
        if x.dtype not in (np.uint8, np.float32):
            x = x.astype(np.float32)
        if check_finite and x.dtype == np.float32 and not np.isfinite(x).all():
            bad = np.argwhere(~np.isfinite(x))[0]
            raise ValueError(f"{what} must hold finite values; found {x[tuple(bad)]} at index "
                             f"{tuple(int(i) for i in bad)}")
        return np.ascontiguousarray(x)

    def _prepare_y(self, y, n):
        names = self.output_names or ["output"]
        ys = functional.flatten_data(y, names, "y")
        out = []
        for j, a in enumerate(ys):
            what = "y" if len(ys) == 1 else f"y[{j}]"
            a = _numeric_array(a, what)
            if len(a) != n:
                raise ValueError(f"x and {what} must hold the same number of samples, received "
                                 f"{n} and {len(a)}")
            a = np.ascontiguousarray(a, dtype=np.float32)
            if not np.isfinite(a).all():
                raise ValueError(f"{what} must hold finite values; found NaN or inf")
            try:
                self._graph.check_targets(a, j)
            except ValueError as e:  # ShapeError too
                if len(ys) == 1:
                    raise
                raise type(e)(f"{what} (output '{names[j]}'): {e}") from None
            out.append(a)
        return out

    def _require_compiled(self):
        if self._metrics is None:
            raise RuntimeError("the model must be compiled before training or evaluation: "
                               "call model.compile(optimizer, loss, metrics) first")

    # ----- training and inference -----------------------------------------------

    def _step(self, xs, ys, sample_weight=None, *, training, outputs=False, top_k=None):
        """One batch through the graph: (loss, [loss per output], [correct per
        output], [|error| sums], [error^2 sums]); then with outputs=True the
        [outputs] for the metrics computed from them, and with top_k (per
        output, a list of k) the top-k counts."""
        if training:
            self.optimizer._before_step()  # a schedule's rate for this step
        if len(xs) == 1 and len(ys) == 1:
            step = self._graph.train_step if training else self._graph.test_step
            result = step(xs[0], ys[0], sample_weight, outputs, top_k)
            loss, right, abs_error, squared_error = result[:4]
            return (loss, [loss], [right], [abs_error], [squared_error]) + tuple(result[4:])
        step = self._graph.train_step_multi if training else self._graph.test_step_multi
        return step(xs, ys, sample_weight, outputs, top_k)

    def _pass_sums(self):
        """The running sums of one pass over the data, with the metric objects."""
        objects = [[m for m in per if not isinstance(m, str)] for per in self._metric_lists()]
        return _LogSums(len(self._output_shapes), objects, self._metric_lists(weighted=True))

    def _run_batch(self, sums, xs, ys, sample_weight, *, training):
        outputs, top_k = sums.step_options(weighted=sample_weight is not None)
        result = self._step(xs, ys, sample_weight, training=training, outputs=outputs,
                            top_k=top_k)
        sums.add(len(xs[0]), result, ys, sample_weight)

    def _prepare_data(self, x, y, sample_weight=None, class_weight=None):
        """Checked arrays for training or evaluation: a _Data."""
        xs = self._prepare_x(x)
        ys = self._prepare_y(y, len(xs[0]))
        if class_weight is not None:
            if sample_weight is not None:
                raise ValueError("You cannot `class_weight` and `sample_weight` at the same time.")
            if len(ys) != 1:
                raise ValueError("class_weight is supported for models with one output; give "
                                 "sample_weight for several")
            sample_weight = _class_weights_to_samples(ys[0], class_weight)
        return _Data(xs, ys, _sample_weights(sample_weight, len(xs[0])))

    @property
    def metrics_names(self):
        """The names evaluate gives its values under, in order (Keras 2's
        list, which scripts zip with evaluate's results)."""
        self._require_compiled()
        return list(self._logs(None, in_order=True))

    def _logs(self, sums, prefix="", in_order=False):
        """Keras's log keys: loss and the metrics; with several outputs also
        each output's loss and metrics under its name (sums None: the keys,
        each with None). Sorted by name, as Keras 3 hands logs to callbacks,
        History and return_dict; in_order: loss first, then the metrics in
        compile's order (evaluate's list)."""
        logs = {prefix + "loss": sums.loss / sums.seen if sums else None}
        lists = self._metric_lists()
        sizes = [int(np.prod(s)) for s in self._output_shapes]
        single = len(lists) == 1
        names = self.output_names
        if not single:
            for j, out in enumerate(names):
                logs[f"{prefix}{out}_loss"] = sums.losses[j] / sums.seen if sums else None
        key = lambda j, name: prefix + (name if single else f"{names[j]}_{name}")
        for j, per in enumerate(lists):
            for metric in per:
                if sums is None:
                    logs[key(j, metric if isinstance(metric, str) else metric.name)] = None
                    continue
                name, value = self._metric_value(sums, j, metric, sizes[j])
                logs[key(j, name)] = value
        for j, per in enumerate(self._metric_lists(weighted=True)):
            for metric in per or []:  # Keras: "weighted_" where a plain metric has the name
                name = metric.name if key(j, metric.name) not in logs else "weighted_" + metric.name
                logs[key(j, name)] = float(metric.result()) if sums else None
        return logs if in_order else dict(sorted(logs.items()))

    @staticmethod
    def _metric_value(sums, j, metric, size):
        """(name, value) of a metric: a name the core sums, or a metric object."""
        if not isinstance(metric, str) and not metric.core_name:
            return metric.name, float(metric.result())
        name, core = (metric, metric) if isinstance(metric, str) else (metric.name,
                                                                      metric.core_name)
        value = sums.value(j, core, size)
        if value != value:  # NaN: the core could not pair predictions and targets
            raise ValueError(f"metric {name!r} compares each output value with its target: it "
                             "needs targets shaped like the model's output (not class labels)")
        return name, value

    def _batches_of(self, x, y, sample_weight, class_weight, batch_size, what="x", limit=None):
        """Batches of arrays, of a PyDataset or of a generator (then y and
        sample_weight must not be given: the batches hold them; batch_size is
        ignored, as Keras 3 ignores it). x may also be the tuple (x, y) or
        (x, y, sample_weight), as Keras takes."""
        if py_dataset.is_batch_stream(x):
            for name, value in (("y", y), ("sample_weight", sample_weight)):
                if value is not None:
                    raise ValueError(f"`{name}` should not be given when {what} is a PyDataset or a "
                                     "generator: its batches hold the targets and weights")
            prepare = lambda bx, by, bw: self._prepare_data(bx, by, bw, class_weight)
            stream = py_dataset.batch_stream(x, getattr(x, "max_queue_size", 10), limit)
            return _StreamBatches(stream, prepare)
        if y is None and isinstance(x, tuple) and len(x) in (2, 3):
            if sample_weight is not None:
                raise ValueError("sample_weight is in the (x, y, sample_weight) tuple already")
            x, y, sample_weight = tuple(x) + (None,) * (3 - len(x))
        return _ArrayBatches(self._prepare_data(x, y, sample_weight, class_weight),
                             _check_batch_size(batch_size))

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1):
        """Trains for `epochs` epochs and returns a History; Keras's arguments.
        x: arrays, a tuple (x, y[, sample_weight]), a pyconv.utils.PyDataset or a
        generator of batches."""
        self._require_compiled()
        steps_per_epoch = _check_steps(steps_per_epoch, "steps_per_epoch")
        validation_steps = _check_steps(validation_steps, "validation_steps")
        if isinstance(validation_freq, bool) or not isinstance(validation_freq, int) \
                or validation_freq < 1:
            raise ValueError(f"validation_freq must be a positive integer, received {validation_freq!r}")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1), received {validation_split}")
        # A generator gives at most the batches the epochs take, where they are counted.
        limit = steps_per_epoch * max(0, epochs - initial_epoch) if steps_per_epoch else None
        train = self._batches_of(x, y, sample_weight, class_weight, batch_size, limit=limit)
        val = None
        try:
            if validation_data is not None:
                if py_dataset.is_batch_stream(validation_data):
                    val = self._batches_of(validation_data, None, None, None, None, "validation_data")
                elif isinstance(validation_data, (tuple, list)) and len(validation_data) in (2, 3):
                    val = _ArrayBatches(self._prepare_data(*validation_data),
                                        _check_batch_size(validation_batch_size or batch_size))
                else:
                    raise ValueError("validation_data must be a tuple (x_val, y_val) or "
                                     "(x_val, y_val, val_sample_weight), a PyDataset or a generator")
            elif validation_split > 0:
                if not isinstance(train, _ArrayBatches):
                    raise ValueError("validation_split needs arrays; give validation_data for a "
                                     "PyDataset or a generator")
                n = len(train.data)
                split = int(n * (1.0 - validation_split))  # Keras: the last part, unshuffled
                if split == 0 or split == n:
                    raise ValueError(f"validation_split={validation_split} leaves no samples for "
                                     f"training or validation out of {n}")
                head, tail = train.data.split(split)
                train = _ArrayBatches(head, train.batch_size)
                val = _ArrayBatches(tail, _check_batch_size(validation_batch_size or train.batch_size))
            return self._fit(train, val, epochs, verbose, callbacks, shuffle, initial_epoch,
                             steps_per_epoch, validation_steps, validation_freq)
        finally:
            train.close()
            if val is not None:
                val.close()

    def _fit(self, train, val, epochs, verbose, callbacks, shuffle, initial_epoch, steps_per_epoch,
             validation_steps, validation_freq):
        verbose = _verbosity(verbose)
        steps = train.steps
        if steps_per_epoch is not None:
            if steps is not None and steps_per_epoch > steps:
                warnings.warn(f"steps_per_epoch={steps_per_epoch}, but the data makes {steps} "
                              f"batches: each epoch runs {steps}", stacklevel=3)
            steps = steps_per_epoch if steps is None else min(steps, steps_per_epoch)
        history = History()  # last, as Keras has it: it records what other callbacks log
        cbs = CallbackList(list(callbacks or []) + [history], self,
                           {"epochs": epochs, "steps": steps, "verbose": verbose})
        self.stop_training = False
        self._fit_validates = val is not None  # (CSVLogger's columns; params stay Keras's)
        self._initial_epoch = None
        self._fit_batches = train  # where a backup finds (and resumes) the pass under way
        # Before the trainer lock: a callback (BackupAndRestore) may replace
        # the model's state here, and set the epoch to start from.
        cbs.on_train_begin(None)
        if self._initial_epoch is not None:
            initial_epoch = self._initial_epoch
        plan = _FitPlan(epochs, initial_epoch, verbose, shuffle and isinstance(train, _ArrayBatches),
                        steps, validation_steps, validation_freq, steps_per_epoch is not None)
        # This thread is the model's trainer until fit returns: another
        # thread's fit or set_weights gets a RuntimeError meanwhile.
        self._graph.begin_training()
        try:
            logs = self._fit_epochs(train, val, plan, cbs)
        finally:
            self._graph.end_training()
            self._fit_batches = None  # (the model keeps no reference to the data)
        cbs.on_train_end(logs)
        self.history = history
        return history

    def _fit_epochs(self, train, val, plan, cbs):
        logs = None
        for epoch in range(plan.initial_epoch, plan.epochs):
            cbs.on_epoch_begin(epoch, None)
            if plan.verbose:
                print(f"Epoch {epoch + 1}/{plan.epochs}", flush=True)
            bar = ProgressBar(plan.steps, verbose=plan.verbose) if plan.verbose and plan.steps \
                else None
            sums = self._pass_sums()
            batches = train.epoch(plan.steps, self._shuffle_rng if plan.shuffle else None,
                                  carry_on=plan.carry_on)
            step = -1
            for step, batch in enumerate(batches):
                cbs.on_train_batch_begin(step, None)
                self._run_batch(sums, *batch, training=True)
                logs = self._logs(sums)
                cbs.on_train_batch_end(step, logs)
                if bar:
                    bar.update(step + 1, logs)
                if self.stop_training:
                    break
            if step < 0:  # a generator that ran out of data
                break
            if val is not None and (epoch + 1) % plan.validation_freq == 0:
                logs.update(self._evaluate(val, prefix="val_", callbacks=cbs,
                                           steps=plan.validation_steps,
                                           carry_on=plan.validation_steps is not None))
            if bar:
                bar.finish(logs, step + 1)
            elif plan.verbose:  # (a generator's epoch: its length known only now)
                print(f"{step + 1}/{step + 1}{format_logs(logs)}", flush=True)
            cbs.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        return logs

    def _evaluate(self, batches, prefix="", callbacks=None, steps=None, carry_on=False,
                  bar=None):
        """The logs over the batches (the first `steps`); with callbacks, their
        on_test_* hooks run (as during fit's validation and in evaluate)."""
        sums = self._pass_sums()
        if callbacks:
            callbacks.on_test_begin(None)
        for step, batch in enumerate(batches.epoch(steps, carry_on=carry_on)):
            if callbacks:
                callbacks.on_test_batch_begin(step, None)
            self._run_batch(sums, *batch, training=False)
            if callbacks:
                callbacks.on_test_batch_end(step, self._logs(sums))
            if bar and bar.live:  # (a pipe gets the finished line only)
                bar.update(step + 1, self._logs(sums))
        if not sums.seen:
            ran_out = getattr(getattr(batches, "stream", None), "exhausted", False)
            raise ValueError("there were no batches to evaluate" + (
                ": the generator ran out in an earlier pass (a generator gives its batches once: "
                "give validation_steps and a generator that does not end, or a PyDataset)"
                if ran_out else ""))
        logs = self._logs(sums)
        if callbacks:
            callbacks.on_test_end(logs)
        return {prefix + k: v for k, v in logs.items()}

    def _results(self, logs, return_dict):
        """evaluate's result: the logs, or (Keras's list) the loss and then
        the metrics in compile's order."""
        if return_dict:
            return logs
        values = [logs[name] for name in self.metrics_names]
        return values[0] if len(values) == 1 else values

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        """The loss (and metrics) over the data (its first `steps` batches): a
        scalar, a list, or a dict. x as fit takes it."""
        self._require_compiled()
        steps = _check_steps(steps, "steps")
        verbose = _verbosity(verbose)
        batches = self._batches_of(x, y, sample_weight, None, batch_size, limit=steps)
        try:
            total = batches.steps if steps is None else min(steps, batches.steps or steps)
            bar = ProgressBar(total, verbose=verbose) if verbose and total else None
            cbs = CallbackList(callbacks, self, {"epochs": 1, "steps": total, "verbose": verbose})
            logs = self._evaluate(batches, callbacks=cbs, steps=steps, bar=bar)
        finally:
            batches.close()
        if bar:
            bar.finish(logs)
        elif verbose:
            print((f"{total}/{total}" if total else "") + format_logs(logs), flush=True)
        return self._results(logs, return_dict)

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Model outputs for x (its first `steps` batches), computed batch by
        batch: one float32 array, or for several outputs a list (a dict if the
        outputs were given as one). As in Keras, verbose="auto" (1) shows a
        progress bar; verbose=0 prints nothing. Callbacks'
        on_predict_* hooks run, the batch hooks with the batch's outputs as
        logs["outputs"]."""
        steps = _check_steps(steps, "steps")
        verbose = _verbosity(verbose)
        if py_dataset.is_batch_stream(x):
            return self._predict_stream(x, steps, verbose, callbacks)
        batch_size = _check_batch_size(batch_size)
        plain = callbacks is None and steps is None
        if plain and self._graph is not None:  # one batch, nothing to convert: no copy
            bar = ProgressBar(1) if verbose == 1 else None
            out = self._graph.predict_as_is(x, min(batch_size, _MAX_INT64))
            if out is not None:
                return _one_batch_done(out, bar)
        xs = self._prepare_x(x, check_finite=False)
        self._require_built()
        n = len(xs[0])
        if plain and self._single_io and n <= batch_size and xs[0].dtype == np.float32:
            bar = ProgressBar(1) if verbose == 1 else None
            return _one_batch_done(self._graph.predict(xs[0]), bar)  # no gather, no extra copy
        if steps is not None:
            n = min(n, steps * batch_size)
        steps = -(-n // batch_size)
        cbs = CallbackList(callbacks, self, {"epochs": 1, "steps": steps, "verbose": verbose})
        bar = ProgressBar(steps) if verbose == 1 else None
        cbs.on_predict_begin(None)
        shapes = [self._shapes[-1]] if self._single_io else self._output_shapes
        outs = [np.empty((n,) + s, dtype=np.float32) for s in shapes]
        for step, idx in enumerate(_index_batches(n, batch_size)):
            cbs.on_predict_batch_begin(step, None)
            batch = [gather_batch(a, idx) for a in xs]
            parts = [self._graph.predict(batch[0])] if self._single_io \
                else self._graph.predict_multi(batch)
            for out, part in zip(outs, parts):
                out[idx[0]:idx[-1] + 1] = part
            cbs.on_predict_batch_end(step, {"outputs": parts[0] if self._single_io else parts})
            if bar:
                bar.update(step + 1, {})
        if bar:
            bar.finish({})
        cbs.on_predict_end(None)
        return outs[0] if self._single_io else self._structure(outs, self._output_keys)

    def _predict_stream(self, x, steps, verbose, callbacks):
        """predict over a PyDataset's or a generator's batches (each x, or a
        tuple whose first item is x): the outputs joined."""
        stream = py_dataset.batch_stream(x, getattr(x, "max_queue_size", 10), steps)
        total = stream.steps if steps is None else min(steps, stream.steps or steps)
        cbs = CallbackList(callbacks, self, {"epochs": 1, "steps": total, "verbose": verbose})
        bar = ProgressBar(total) if verbose == 1 and total else None
        parts = []
        try:
            cbs.on_predict_begin(None)
            for step, raw in enumerate(stream.epoch(steps)):
                cbs.on_predict_batch_begin(step, None)
                out = self.predict_on_batch(py_dataset.unpack_batch(raw)[0])
                parts.append(out)
                cbs.on_predict_batch_end(step, {"outputs": out})
                if bar:
                    bar.update(step + 1, {})
        finally:
            stream.close()
        if bar:
            bar.finish({})
        cbs.on_predict_end(None)
        if not parts:
            raise ValueError("there were no batches to predict")
        if isinstance(parts[0], np.ndarray):
            return np.concatenate(parts)
        if isinstance(parts[0], dict):
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return [np.concatenate([p[j] for p in parts]) for j in range(len(parts[0]))]

    def train_on_batch(self, x, y, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns its loss (and metrics)."""
        self._require_compiled()
        data = self._prepare_data(x, y, sample_weight, class_weight)
        sums = self._pass_sums()
        self._run_batch(sums, *data.take(np.arange(len(data))), training=True)
        return self._results(self._logs(sums), return_dict)

    def test_on_batch(self, x, y, sample_weight=None, return_dict=False):
        self._require_compiled()
        data = self._prepare_data(x, y, sample_weight)
        return self._results(self._evaluate(_ArrayBatches(data, len(data))), return_dict)

    def predict_on_batch(self, x):
        if self._graph is not None:
            out = self._graph.predict_as_is(x)  # None unless x needs no conversion
            if out is not None:
                return out
        xs = functional.flatten_data(x, self.input_names, "x") if self._graph is not None \
            else [x]
        first = np.asarray(xs[0])
        # (predict explains a 0-d x; predict_on_batch never shows progress, as in Keras)
        return self.predict(x, batch_size=(first.ndim and len(first)) or 1, verbose=0)

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
        if not getattr(self, "_moved_to", None):  # (a nested model's layers read their own)
            self._require_built()
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights):
        self._require_built()
        weights = list(weights)
        counts = [len(self._graph.layer_param_names(l._index)) for l in self.layers]
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

    def _unique_layers(self):
        seen, out = set(), []
        for layer in self.layers:
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        return out

    @property
    def weights(self):
        """Every weight as a Variable (pyconv.variables): trainable ones first."""
        return self.trainable_weights + self.non_trainable_weights

    @property
    def trainable_weights(self):
        self._require_built()
        return [v for layer in self._unique_layers() for v in layer.trainable_weights]

    @property
    def non_trainable_weights(self):
        self._require_built()
        return [v for layer in self._unique_layers() for v in layer.non_trainable_weights]

    def __call__(self, inputs, training=None):
        """The model on arrays, as Keras's model(x): its outputs for the batch
        (NumPy arrays). As in Keras, the random augmentation layers transform
        unless training=False; dropout and batch statistics act only inside
        fit and train_on_batch."""
        if isinstance(inputs, KerasTensor) or (isinstance(inputs, (list, tuple, dict)) and any(
                isinstance(t, KerasTensor) for t in (inputs.values() if isinstance(inputs, dict)
                                                     else inputs))):
            return self._call_symbolic(inputs, training)
        if self._graph is None and self._input_shape is None and isinstance(self, Sequential) \
                and np.ndim(inputs) >= 1:  # Keras builds on the first call
            self.build((None,) + np.shape(inputs)[1:])
        self._require_built()
        augments = training is not False and any(
            isinstance(layer, _AUGMENTATIONS) for layer in self.layers)
        if training:
            modal = [layer.name for layer in self.layers if isinstance(layer, _TRAINING_MODAL)]
            if modal:
                raise ValueError(f"model(x, training=True) is not supported for a model with "
                                 f"dropout or batch normalization ({', '.join(modal)}): pyconv "
                                 "runs them in training mode only inside fit and train_on_batch")
        if not augments:
            return self.predict_on_batch(inputs)
        xs = [np.ascontiguousarray(a, dtype=np.float32)
              for a in self._prepare_x(inputs, check_finite=False)]
        # Where every augmentation has a seed of its own, the draws follow from
        # them and the model's count of calls, as Keras's seeded layers do.
        seeded = all(layer._keras_config.get("seed") is not None for layer in self.layers
                     if isinstance(layer, _AUGMENTATIONS))
        if seeded:
            self._augment_calls = getattr(self, "_augment_calls", 0) + 1
        key = self._augment_calls if seeded else _random.next_seed()
        outs = self._graph.predict_multi(xs, augment_key=key)
        return outs[0] if self._single_io else self._structure(outs, self._output_keys)

    def to_json(self, **kwargs):
        """The model's architecture as JSON (no weights): see model_from_json."""
        return json.dumps({"class_name": type(self).__name__, "config": self.get_config(),
                           "module": "pyconv"}, **kwargs)

    @classmethod
    def from_config(cls, config):
        """A new model (new weights) of the architecture get_config describes."""
        if "inbound_nodes" not in (config.get("layers") or [{}])[0]:
            return Sequential.from_config(config)
        layer_list, by_name = [], {}
        for entry in config["layers"]:  # a shared layer's calls: one object
            name = entry["config"]["name"]
            if name not in by_name:
                by_name[name] = saving.layer_from_config(entry)
            layer_list.append(by_name[name])
        graph = _core.Graph.multi(
            [(l.core_config(), list(e["inbound_nodes"])) for l, e in zip(layer_list, config["layers"])],
            [tuple(s) for s in config["input_shapes"]], list(config["output_nodes"]),
            _random.next_seed())
        model = Model.__new__(Model)
        model._init_from_graph(graph, layer_list, config.get("name"))
        model._input_keys = config.get("input_keys", model._input_keys)
        model._output_keys = config.get("output_keys", model._output_keys)
        return model

    def _call_symbolic(self, inputs, training=None):
        """model(tensor) while building another model: a Sequential's layers
        applied in turn (they move into the model being built). With
        training=False its dropout and batch normalization stay in inference
        mode there, even once unfrozen (as Keras's base_model(x, training=False))."""
        if not isinstance(self, Sequential) or not isinstance(inputs, KerasTensor):
            raise TypeError("only a Sequential model can be called on a symbolic tensor (a "
                            "model inside another); build the outer model from the inner "
                            "functional model's layers")
        x = inputs
        # Called again (a Siamese encoder on a second input): the layers that
        # moved out at the first call are called again, sharing their weights.
        again = getattr(self, "_moved_to", None) == _SYMBOLIC_DESTINATION
        for layer in list(self.layers) if again else self._move_layers_out(_SYMBOLIC_DESTINATION):
            if training is False and isinstance(layer, _TRAINING_MODAL):
                layer._set_inference_mode()
            x = layer(x)
        return x

    def _move_layers_out(self, destination):
        """A model used inside another, as Keras nests one: its layers move
        there (flattened), each with its weights and trainable flag. This
        model keeps the same layer objects (their weights, trainable flags
        and config read and set as before), but runs no more on its own."""
        self._check_not_moved()
        layers = list(self.layers)
        for layer in layers:
            if layer._model is self:
                layer._moved_weights = layer.get_weights()
            layer._model = layer._index = None
            layer._calls = []  # its output is now the one in the outer model
        self._graph, self._shapes = None, []
        self._moved_to = destination
        return layers

    def _check_not_moved(self):
        if getattr(self, "_moved_to", None):
            raise RuntimeError(f"model '{self.name}' was nested in another model, and its layers "
                               f"and weights moved there ({self._moved_to}); use that model")

    @property
    def trainable(self):
        """Keras's model.trainable: setting it sets every layer's (also once
        the model is nested in another: base_model.trainable = False)."""
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value):
        for layer in self.layers:
            layer.trainable = value
        self._trainable = bool(value)

    def _require_built(self):
        self._check_not_moved()
        if self._graph is None:
            if self._input_shape is None:
                raise ValueError("the model is not built yet: give it an input shape "
                                 "(pyconv.Input(shape=...)) or call build() or fit() first")
            self.build()

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Prints each layer's output shape and parameter count, and the
        totals (show_trainable: a column saying which layers train). Keras's
        line_length, positions and expand_nested only change its layout here."""
        if layer_range is not None:
            raise ValueError("summary() lists every layer (layer_range=None)")
        print_fn = print_fn or print
        if self._input_shape is None:
            raise ValueError("the model is not built yet: give it an input shape "
                             "(pyconv.Input(shape=...)) or call build() first")
        functional_model = not isinstance(self, Sequential)
        input_names = self.input_names
        rows, total, frozen = [], 0, 0
        shapes = self._shapes
        for i, layer in enumerate(self._node_layers or self.layers):
            if self._graph is not None and self._graph.layer_owner(i) != i:
                continue  # a shared layer's later call: listed with its first
            calls = [k for k, l in enumerate(self._node_layers) if l is layer] or [i]
            sources = [list(self._graph.node_inputs(k)) if functional_model else [k - 1]
                       for k in calls]
            in_shapes = [self._input_shapes[-1 - j] if j < 0 else shapes[j] for j in sources[0]]
            ins = in_shapes[0] if len(in_shapes) == 1 else in_shapes
            count = layer.count_params(ins)
            total += count
            frozen += layer._non_trainable_count(ins)
            row = (f"{layer.name} ({type(layer).__name__})", str((None,) + shapes[i]),
                   f"{count:,}")
            if functional_model:
                row += (", ".join(input_names[-1 - j] if j < 0 else self._node_layers[j].name
                                  for src in sources for j in src),)
            if show_trainable:
                row += ("Y" if layer.trainable else "N",)
            rows.append(row)
        headers = ("Layer (type)", "Output Shape", "Param #") + (
            ("Connected to",) if functional_model else ()) + (
            ("Trainable",) if show_trainable else ())
        widths = (33, 26, 12) + ((30,) if functional_model else ()) + (
            (10,) if show_trainable else ())
        # A cell as wide as its column still gets a space after it.
        cell = lambda c, w: f"{c:<{w}}" if len(c) < w else c + " "
        line = "".join(cell(h, w) for h, w in zip(headers, widths))
        print_fn(f'Model: "{self.name}"')
        print_fn("_" * sum(widths))
        print_fn(line)
        print_fn("=" * sum(widths))
        for row in rows:
            print_fn("".join(cell(c, w) for c, w in zip(row, widths)))
        print_fn("=" * sum(widths))
        print_fn(f"Total params: {total:,}")
        print_fn(f"Trainable params: {total - frozen:,}")
        print_fn(f"Non-trainable params: {frozen:,}")
        print_fn("_" * sum(widths))

    def get_config(self):
        graph = self._graph
        return {"name": self.name,
                "layers": [{"class_name": type(l).__name__, "config": l.get_config(),
                            "inbound_nodes": list(graph.node_inputs(i))}
                           for i, l in enumerate(self._node_layers)],
                "input_shapes": [list(s) for s in graph.input_shapes],
                "output_nodes": list(graph.outputs),
                "input_keys": self._input_keys, "output_keys": self._output_keys}


class Sequential(Model):
    """A linear stack of layers: `Sequential([Input((28, 28, 1)), Conv2D(...), ...])`."""

    def __init__(self, layers=None, name=None):
        self._init_fields(name or _unique_name("sequential"))
        for layer in layers or []:
            self._append(layer)
        if self.layers and self._input_shape is not None:
            self.build()  # as Keras: the weights exist once the input shape is known

    def add(self, layer):
        """Appends a layer; shapes are checked as soon as the input shape is known.
        A built model is built again, keeping its other layers' weights."""
        with self._changing_layers():
            self._append(layer)
            if self.layers and self._input_shape is not None:
                self._rebuild()

    def pop(self):
        """Removes and returns the last layer; the model keeps the other
        layers' weights (a compiled model's optimizer starts afresh)."""
        if not self.layers:
            raise TypeError("There are no layers in the model.")
        with self._changing_layers():
            layer = self.layers.pop()
            if self._shapes:
                self._shapes.pop()
            built = self._graph is not None
            layer._model = layer._index = None
            if built:
                self._rebuild()
        return layer

    @contextlib.contextmanager
    def _changing_layers(self):
        """Holds a built model as its trainer while its layers change: another
        thread's fit gets a RuntimeError meanwhile, and a change while one
        trains it is refused (RuntimeError) before anything changes."""
        graph = self._graph
        if graph is None:
            yield
            return
        graph.begin_training()
        try:
            yield
        finally:
            graph.end_training()

    def _rebuild(self):
        """A new graph for the current layers, with the weights of those that
        were built before."""
        kept = [(layer, layer.get_weights()) for layer in self.layers if layer._model is self]
        self._graph = None
        for layer in self.layers:
            layer._model = layer._index = None
        if not self.layers:
            return
        try:
            self.build()
        except ValueError:
            if self._graph is None:
                raise
            # The compiled loss no longer fits the new output (a classifier's
            # head popped): as in Keras, compile again before training.
            self._metrics = self._weighted_metrics = None
        for layer, weights in kept:
            layer.set_weights(weights)

    def _append(self, layer):
        self._check_not_moved()
        if isinstance(layer, Sequential):  # nested: its layers join this model's
            shape = layer._input_shape
            inner = layer._move_layers_out(f"model '{self.name}'")
            if shape is not None and not self.layers and self._input_shape is None:
                self._input_shape = tuple(shape)
            for each in inner:
                self._append(each)
            return
        if isinstance(layer, Model):
            raise TypeError(f"a functional model ('{layer.name}') cannot be nested in another "
                            "model (a Sequential can); build the outer model from its layers")
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
        if any(existing.name == layer.name for existing in self.layers):
            raise ValueError(f"all layers must have unique names; '{layer.name}' is used twice")
        if not self.layers and self._input_shape is None and layer._input_shape is not None:
            self._input_shape = layer._input_shape
        if self._input_shape is not None:
            previous = self._shapes[-1] if self._shapes else self._input_shape
            out, _ = _core.layer_info(layer.core_config(), previous)
            self._shapes.append(tuple(out))
        self.layers.append(layer)

    def _adopt_graph(self, graph, node_layers):
        super()._adopt_graph(graph, node_layers)
        # Symbolic tensors through the stack, so that model.inputs, model.outputs
        # and layer.output work as in Keras (a feature extractor from them).
        x = Input(self._input_shape, name="input")
        inputs = [x]
        for layer, shape in zip(self.layers, self._shapes):
            layer._calls = [KerasTensor((None,) + tuple(shape), layer=layer, inputs=[x])]
            x = layer._calls[0]
        self._set_tensors(inputs, None, [x], None)

    def build(self, input_shape=None):
        """Creates the C++ graph and initial weights. input_shape includes the
        batch axis, as in Keras: build((None, 28, 28, 1))."""
        self._check_not_moved()
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
            self._compile_graph(self.optimizer, self._loss_list(), self._loss_weights)

    def get_config(self):
        config = {"name": self.name,
                  "layers": [{"class_name": type(l).__name__, "config": l.get_config()}
                             for l in self.layers]}
        if self._input_shape is not None:
            config["input_shape"] = list(self._input_shape)
        return config

    @classmethod
    def from_config(cls, config):
        layers = [saving.layer_from_config(entry) for entry in config.get("layers", [])]
        shape = config.get("input_shape")
        return Sequential(([Input(tuple(shape))] if shape is not None else []) + layers,
                          name=config.get("name"))


def load_model(filepath, custom_objects=None):
    """The model saved at filepath by `model.save(filepath)` (or by a C/C++
    program), ready to predict or to continue training; custom_objects:
    {name: class} for Metric subclasses of your own, as in Keras."""
    return saving.load_model(filepath, custom_objects)


def model_from_json(json_string, custom_objects=None):
    """A new model (new weights) from Model.to_json's text."""
    if custom_objects:
        raise ValueError("custom_objects are not supported: pyconv models are made of its own "
                         "layers")
    data = json.loads(json_string)
    classes = {"Sequential": Sequential, "Model": Model, "Functional": Model}
    if not isinstance(data, dict) or data.get("class_name") not in classes:
        raise ValueError("expected the JSON of Model.to_json: an object whose class_name is "
                         "Sequential or Model")
    return classes[data["class_name"]].from_config(data["config"])


def clone_model(model, input_tensors=None, clone_function=None):
    """A new model of the same architecture with new weights (as Keras's);
    clone_function(layer) may give each layer's replacement."""
    if input_tensors is not None:
        raise ValueError("clone_model's input_tensors are not supported; the clone has the "
                         "model's own input shapes")
    if clone_function is None:
        return type(model).from_config(model.get_config())
    if not isinstance(model, Sequential):
        raise ValueError("clone_function is supported for Sequential models")
    config = model.get_config()
    return Sequential(([Input(tuple(config["input_shape"]))] if "input_shape" in config else [])
                      + [clone_function(layer) for layer in model.layers], name=model.name)

"""Saving and loading whole models as .pcv files (docs/pcv-format.md).

The C++ core writes and reads the file: layers, weights, optimizer state and
the training step. Python adds what only it knows to the file's metadata: its
layer objects' configs, the metrics, and the model's shuffling generator, so
that training resumed from a file continues exactly as if it had not stopped.
"""

import json
import os
import warnings

from . import _core, layers as layers_module, losses, metrics, optimizers

_PYTHON_KEY = "python.model"


def store_python_meta(model):
    """Puts what only Python knows into the model's metadata, as JSON, before
    the graph is written (to a file or to bytes)."""
    info = json.dumps({
        "class_name": type(model).__name__,
        "config": model.get_config(),
        "metrics": _map_metrics(metrics.to_json, model._metrics),
        "weighted_metrics": _map_metrics(metrics.to_json, model._weighted_metrics),
        "shuffle_rng": model._shuffle_rng.bit_generator.state,
        "schedule": _schedule_of(model),
    })
    model._graph.meta = {**model._graph.meta, _PYTHON_KEY: info}


def _schedule_of(model):
    """The optimizer's learning-rate schedule as Keras serializes it, or None
    (the file's optimizer config keeps only the current rate)."""
    schedule = getattr(getattr(model, "optimizer", None), "_schedule", None)
    if schedule is None:
        return None
    try:
        return optimizers.schedules.serialize(schedule)
    except NotImplementedError:  # a user's class without get_config: named, not rebuilt
        return {"class_name": type(schedule).__name__, "config": None}


def _map_metrics(fn, compiled):
    """fn on each compiled metric: a list, or for several outputs one list per
    output; metrics fn gives None for are left out."""
    if compiled is None:
        return None
    out = [[x for x in map(fn, per) if x is not None] if isinstance(per, list) else fn(per)
           for per in compiled]
    return [x for x in out if x is not None]


def check_path(filepath, overwrite):
    path = os.fspath(filepath)
    if path.lower().endswith((".keras", ".h5", ".hdf5")):
        raise ValueError(f"pyconv writes its own model file (.pcv, docs/pcv-format.md), not "
                         f"Keras's .keras or HDF5 formats: name it e.g. "
                         f"{os.path.splitext(path)[0].removesuffix('.weights')}.pcv")
    if not overwrite and os.path.exists(path):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    return path


def _layer_class(name):
    cls = getattr(layers_module, name, None)
    if not isinstance(cls, type) or not issubclass(cls, layers_module.Layer):
        raise _core.ModelFileError(f"the model file has a layer of class {name!r}, which this "
                                   "Python front end cannot represent")
    return cls


def layer_from_config(entry):
    config = dict(entry["config"])
    config.pop("input_shape", None)
    return _layer_class(entry["class_name"]).from_config(config)


def _layer_from_core(config):
    """A Python layer for a layer the file describes only by its C++ attributes
    (a model built and saved without Python)."""
    config = dict(config)
    return _layer_class(config.pop("type")).from_config(config)


def restore(model, graph, custom_objects=None):
    """Makes `model` (a new, uninitialised Sequential or Model) the model of a
    C++ graph loaded from a file or bytes; a graph with branches or skip
    connections becomes a functional Model whatever `model` was."""
    try:
        return _restore(model, graph, custom_objects)
    except (KeyError, TypeError, AttributeError, IndexError, json.JSONDecodeError) as e:
        # The C++ graph loaded: what failed is the Python description in the
        # metadata, which the checksum does not protect from a tool's edits.
        raise _core.ModelFileError(f"the model file's description of its Python model is damaged "
                                   f"({_PYTHON_KEY!r} metadata): {type(e).__name__}: {e}") from None


def _restore(model, graph, custom_objects):
    from .models import Model

    meta = graph.meta
    info = json.loads(meta[_PYTHON_KEY]) if _PYTHON_KEY in meta else None
    if info is not None:
        name = info["config"].get("name")
        configs = [(entry, layer_from_config) for entry in info["config"]["layers"]]
    else:
        name = None
        configs = [(graph.layer_config(i), _layer_from_core) for i in range(graph.num_layers)]
    layer_list = []
    for i, (config, make) in enumerate(configs):  # a shared layer's calls: one object
        owner = graph.layer_owner(i)
        layer_list.append(layer_list[owner] if owner != i else make(config))
    # A chain whose layers are each called once is a Sequential; a layer
    # called twice (a C program's repeated name=) needs the functional form.
    chain = all(list(graph.node_inputs(i)) == [i - 1] and graph.layer_owner(i) == i
                for i in range(graph.num_layers)) and list(graph.outputs) == [graph.num_layers - 1]
    functional = not chain or (info is not None and info["class_name"] == "Model")
    if functional:
        if type(model) is not Model:
            model = Model.__new__(Model)
        model._init_from_graph(graph, layer_list, name)
        if info is not None:
            model._input_keys = info["config"].get("input_keys", model._input_keys)
            model._output_keys = info["config"].get("output_keys", model._output_keys)
    else:
        model.__init__(name=name)
        model._adopt_graph(graph, layer_list)
    if graph.compiled:
        outputs = len(graph.outputs)
        per_output = _core.unpack_output_losses(graph.loss_config, outputs)
        model.optimizer = optimizers.from_core_config(graph.optimizer_config)
        model.loss = [losses.from_core_config(config) for config, _ in per_output]
        if outputs == 1:
            model.loss = model.loss[0]
        model._loss_weights = [weight for _, weight in per_output]
        metric = lambda entry: metrics.from_json(entry, custom_objects)  # noqa: E731
        model._weighted_metrics = _map_metrics(metric, info.get("weighted_metrics")) if info else None
        model._metrics = _map_metrics(metric, info["metrics"]) if info else (
            [] if outputs == 1 else [[] for _ in range(outputs)])
        model.optimizer._graph = graph
    if info is not None:
        model._shuffle_rng.bit_generator.state = info["shuffle_rng"]
        if graph.compiled and info.get("schedule"):
            _restore_schedule(model.optimizer, info["schedule"])
    return model


def _restore_schedule(optimizer, config):
    """The saved schedule back on the loaded optimizer; one pyconv cannot
    rebuild (a user's own class) leaves the saved constant rate, with a warning."""
    try:
        optimizer._schedule = optimizers.schedules.deserialize(config)
    except ValueError as e:
        warnings.warn(f"{e}; the model continues at the saved rate {optimizer.learning_rate}",
                      stacklevel=3)


def load_model(filepath, custom_objects=None):
    """The model saved at filepath by `model.save(filepath)` (or by a C/C++
    program), ready to predict or to continue training; a quantized model's
    file (pyconv.quantize) gives a QuantizedModel. custom_objects: {name:
    class} for Metric subclasses of your own, as in Keras (those defined
    in the process are found by name too)."""
    from .models import Sequential
    from .quantization import QuantizedModel

    loaded = _core.load_any_model(os.fspath(filepath))
    if isinstance(loaded, _core.QuantizedModel):
        return QuantizedModel(loaded, name=os.path.splitext(os.path.basename(filepath))[0])
    return restore(Sequential.__new__(Sequential), loaded, custom_objects)

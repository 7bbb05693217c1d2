"""The functional API's graph: from the symbolic tensors given to
pyconv.Model(inputs, outputs) to the nodes of a C++ graph, and the
structures (one array, a list, a dict keyed by name) that data for several
inputs and outputs comes in."""

from .layers.core import KerasTensor


def tensor_list(value, what):
    """The KerasTensors of Model(inputs=...) or outputs=..., and their
    structure: None for a single tensor, "list", or the dict's keys."""
    if isinstance(value, dict):
        keys, tensors = list(value), list(value.values())
    elif isinstance(value, (list, tuple)):
        keys, tensors = "list", list(value)
    else:
        keys, tensors = None, [value]
    if not tensors:
        raise ValueError(f"{what} must hold at least one tensor")
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(f"{what} must be symbolic tensors (pyconv.Input(...) or a layer's "
                            f"output), received {t!r}")
    if len({id(t) for t in tensors}) != len(tensors):
        raise ValueError(f"{what} holds the same tensor twice")
    return tensors, keys


def graph_nodes(inputs, outputs):
    """The calls (one KerasTensor each) between `inputs` and `outputs` in
    topological order, each call's inbound node indices (-1 - k: input k), and
    the node index of each output."""
    input_index = {id(t): k for k, t in enumerate(inputs)}
    order, index = [], {}
    stack = [(t, False) for t in reversed(outputs)]  # depth first
    while stack:
        tensor, inputs_placed = stack.pop()
        if id(tensor) in input_index or id(tensor) in index:
            continue
        if tensor._layer is None:
            raise ValueError(f"the model's outputs depend on {tensor!r}, which is not one of "
                             "the model's inputs (a disconnected input): pass it in inputs=")
        if inputs_placed:
            index[id(tensor)] = len(order)
            order.append(tensor)
            continue
        stack.append((tensor, True))
        stack.extend((t, False) for t in reversed(tensor._inputs))
    for t in outputs:
        if id(t) in input_index:
            raise ValueError(f"output {t!r} is a model input, with no layers on its way; an "
                             "output must be a layer's output")
    used = {id(s) for t in order for s in t._inputs}
    for k, t in enumerate(inputs):
        if id(t) not in used:
            raise ValueError(f"model input {k} ({t!r}) is not used by any layer on the way to "
                             "the outputs (a disconnected input)")
    inbound = [[-1 - input_index[id(s)] if id(s) in input_index else index[id(s)]
                for s in t._inputs] for t in order]
    return order, inbound, [index[id(t)] for t in outputs]


def flatten_data(value, names, what):
    """Data for several model inputs (or outputs), as a list in model order:
    one array for a single one, else a list/tuple in order or a dict keyed by
    the input (output) names."""
    if len(names) == 1:
        if isinstance(value, dict):
            value = list(value.values()) if len(value) == 1 else value
        if isinstance(value, (list, tuple)) and len(value) == 1 and hasattr(value[0], "shape"):
            value = value[0]
        if isinstance(value, dict):
            raise ValueError(f"{what}: the model has one, received a dict of {len(value)}")
        return [value]
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        missing = [n for n in names if n not in value]
        if unknown or missing:
            raise ValueError(f"{what}: expected a dict keyed by {names}, received keys "
                             f"{list(value)}")
        return [value[n] for n in names]
    if not isinstance(value, (list, tuple)) or len(value) != len(names):
        got = f"a {type(value).__name__} of {len(value)}" if isinstance(value, (list, tuple)) \
            else type(value).__name__
        raise ValueError(f"{what}: the model has {len(names)} ({', '.join(names)}); expected a "
                         f"list of {len(names)} arrays or a dict keyed by those names, "
                         f"received {got}")
    return list(value)


def per_output(value, names, what, default):
    """A compile() argument given once for all outputs, as a list in order, or
    as a dict keyed by output name, as a list with one entry per output."""
    if isinstance(value, dict):
        unknown = [k for k in value if k not in names]
        if unknown:
            raise ValueError(f"{what}: no output named {unknown[0]!r}; the outputs are {names}")
        return [value.get(n, default) for n in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(f"{what}: expected one entry per output ({len(names)}), received "
                             f"{len(value)}")
        return list(value)
    return [value] * len(names)

"""Pictures of training and of what a network learned, each written as a PNG
(matplotlib, the optional extra: `pip install pyconv[plot]`):

    pyconv.utils.plot_history(history, "history.png")
    pyconv.utils.plot_filters(model.layers[0], "filters.png")
    pyconv.utils.plot_feature_maps(model, image, model.layers[1], "maps.png")
    pyconv.utils.plot_model(model, "model.png")
    pyconv.utils.plot_heat_map(canvas, heat, "waldo.png")
"""

import math
import os
import shutil
import subprocess
import tempfile

import numpy as np


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("plotting needs matplotlib: pip install pyconv[plot]") from None
    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path):
    fig.savefig(os.fspath(path), dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return os.fspath(path)


def plot_history(history, path):
    """Loss and metric curves per epoch (training and validation) of a
    History (what fit returns) or its .history dict."""
    logs = getattr(history, "history", history)
    names = [k for k in logs if not k.startswith("val_")]
    if not names:
        raise ValueError("the history holds no logs: train with fit() first")
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(names), figsize=(4 * len(names), 3), squeeze=False)
    for ax, name in zip(axes[0], names):
        epochs = np.arange(1, len(logs[name]) + 1)
        ax.plot(epochs, logs[name], "o-", label="training")
        if f"val_{name}" in logs:
            ax.plot(epochs, logs[f"val_{name}"], "s--", label="validation")
        ax.set_xlabel("epoch")
        ax.set_title(name)
        ax.legend()
    return _save(fig, path)


def _grid(images, path, title, cmap="gray"):
    """Images (n, h, w) or (n, h, w, 3) on a near-square grid, each scaled to
    its own range."""
    n = len(images)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    plt = _pyplot()
    fig, axes = plt.subplots(rows, cols, figsize=(1.2 * cols, 1.2 * rows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            image = images[k].astype(np.float64)
            span = image.max() - image.min()
            ax.imshow((image - image.min()) / (span if span > 0 else 1), cmap=cmap,
                      interpolation="nearest")
    fig.suptitle(title)
    return _save(fig, path)


def plot_filters(layer, path):
    """A convolution's kernels as images, one per filter: grey for one input
    channel, colour for three, the mean over channels otherwise (first-layer
    filters of a digit network look like stroke and edge detectors)."""
    weights = layer.get_weights()
    if not weights or np.ndim(weights[0]) != 4:
        raise ValueError(f"layer '{layer.name}' has no (kh, kw, channels, filters) kernel to "
                         "draw; give a built Conv2D")
    kernel = np.asarray(weights[0])
    filters = np.moveaxis(kernel, -1, 0)  # (F, kh, kw, C)
    if filters.shape[-1] == 3:
        images = filters
    else:
        images = filters.mean(axis=-1)
    return _grid(images, path, f"{layer.name}: {kernel.shape[-1]} filters")


def plot_feature_maps(model, image, layer, path, max_maps=32):
    """The channels of `layer`'s output for one input image, as images."""
    index = model.layers.index(layer) if not isinstance(layer, str) else \
        model.layers.index(model.get_layer(layer))
    x = np.asarray(image, np.float32)
    if x.shape == model.input_shape[1:]:
        x = x[None]
    if x.shape[1:] != model.input_shape[1:] or len(x) != 1:
        raise ValueError(f"expected one image of shape {model.input_shape[1:]}, received "
                         f"{np.shape(image)}")
    (maps,) = model._graph.node_outputs([np.ascontiguousarray(x)], [index])
    if maps.ndim != 4:
        raise ValueError(f"layer '{model.layers[index].name}' outputs {maps.shape[1:]}, not "
                         "(height, width, channels) maps")
    channels = np.moveaxis(maps[0], -1, 0)[:max_maps]
    return _grid(channels, path, f"{model.layers[index].name}: {maps.shape[-1]} maps",
                 cmap="viridis")


def _graph_lines(model):
    """(name, description, [input indices]) per node; -1 is the input."""
    graph = model._graph
    nodes = []
    for i, layer in enumerate(model.layers):
        shape = (None,) + tuple(graph.layer_output_shape(i))
        nodes.append((layer.name, f"{type(layer).__name__} {shape}", list(graph.node_inputs(i))))
    return nodes


# Keras's plot_model options: pyconv always draws each layer's name and
# output shape, top to bottom; these only change how Keras draws.
_DRAWING_OPTIONS = ("show_shapes", "show_dtype", "show_layer_names", "rankdir", "expand_nested",
                    "dpi", "show_layer_activations", "show_trainable")


def plot_model(model, to_file="model.png", **options):
    """The layer graph with each layer's output shape: drawn by Graphviz's
    `dot` when it is installed, else by matplotlib (layers top to bottom,
    branches side by side). Keras's drawing options are accepted (see above)."""
    unknown = sorted(set(options) - set(_DRAWING_OPTIONS))
    if unknown:
        raise TypeError(f"plot_model() got unexpected arguments {unknown}; it takes to_file and "
                        f"Keras's {', '.join(_DRAWING_OPTIONS)}")
    path = to_file
    model._require_built()
    nodes = _graph_lines(model)
    if shutil.which("dot"):
        lines = ['digraph model {', '  node [shape=box, fontname="Helvetica"];',
                 f'  input [label="Input {model.input_shape}"];']
        for i, (name, text, ins) in enumerate(nodes):
            lines.append(f'  n{i} [label="{name}\\n{text}"];')
            lines += [f'  {"input" if j < 0 else f"n{j}"} -> n{i};' for j in ins]
        lines.append("}")
        with tempfile.NamedTemporaryFile("w", suffix=".dot", delete=False) as f:
            f.write("\n".join(lines))
        try:
            subprocess.run(["dot", "-Tpng", f.name, "-o", os.fspath(path)], check=True,
                           capture_output=True, timeout=60)
        finally:
            os.unlink(f.name)
        return os.fspath(path)
    # A layer's row is one below its deepest input; nodes on a row share it.
    depth, column, per_row = [], [], {}
    for _, _, ins in nodes:
        d = 1 + max(0 if j < 0 else depth[j] for j in ins)
        depth.append(d)
        column.append(per_row.get(d, 0))
        per_row[d] = per_row.get(d, 0) + 1
    width = max(per_row.values())
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(3.2 * width, 0.7 * (max(depth) + 1)))
    pos = [(c - (per_row[d] - 1) / 2, -d) for d, c in zip(depth, column)]
    ax.text(0, 0, f"Input {model.input_shape}", ha="center", va="center",
            bbox={"boxstyle": "round", "fc": "#e8e8e8"}, fontsize=7)
    for i, (name, text, ins) in enumerate(nodes):
        for j in ins:
            start = (0, 0) if j < 0 else pos[j]
            ax.annotate("", xy=pos[i], xytext=start,
                        arrowprops={"arrowstyle": "->", "color": "#777777"})
        ax.text(*pos[i], f"{name}\n{text}", ha="center", va="center",
                bbox={"boxstyle": "round", "fc": "#dde8f5"}, fontsize=7)
    ax.set_xlim(-width / 2 - 0.5, width / 2 + 0.5)
    ax.set_ylim(-max(depth) - 0.7, 0.7)
    ax.axis("off")
    return _save(fig, path)


def plot_heat_map(canvas, heat, path, window=28, stride=4):
    """A canvas with a detector's heat map over it (the "Where's Waldo"
    picture): score (r, c) belongs to the window at (stride r, stride c)."""
    canvas = np.asarray(canvas, np.float32).squeeze()
    heat = np.asarray(heat, np.float32).squeeze()
    if canvas.ndim != 2 or heat.ndim != 2:
        raise ValueError(f"expected a 2-D canvas and heat map, received {np.shape(canvas)} "
                         f"and {np.shape(heat)}")
    # Each window's score spread over the window's centre, for an overlay.
    overlay = np.zeros_like(canvas)
    for r in range(heat.shape[0]):
        for c in range(heat.shape[1]):
            top, left = stride * r + window // 2 - stride // 2, stride * c + window // 2 - stride // 2
            cell = overlay[top:top + stride, left:left + stride]
            np.maximum(cell, heat[r, c], out=cell)
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    axes[0].imshow(canvas, cmap="gray")
    axes[0].set_title("canvas")
    axes[1].imshow(canvas, cmap="gray")
    axes[1].imshow(overlay, cmap="hot", alpha=0.6, vmin=0, vmax=1)
    axes[1].set_title("detector heat map")
    for ax in axes:
        ax.axis("off")
    return _save(fig, path)

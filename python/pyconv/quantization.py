"""int8 post-training quantization.

    qmodel = pyconv.quantize(model, x_calibration)   # a few hundred typical inputs
    qmodel.predict(x_test)
    qmodel.save("digits_int8.pcv")                    # pyconv-run and the C API run it too

Weights are quantized per output channel and symmetric; activations per
tensor, with a scale and zero point calibrated on the representative data
(the range of the values seen, a percentile of them, or the range that
minimises the KL divergence of the quantized values); accumulation is in
int32 and outputs are brought back to int8 with an integer multiplier and
shift, as TFLite does. Batch normalization after a convolution is folded into
it, ReLU and ReLU6 become the output's clamp, other activations a 256-entry
lookup table, and softmax runs in float on the dequantized logits. Layers
named in `float_layers` stay in float (the first and last layers are where
accuracy is usually lost).

The quantized model runs in pyconv's micro runtime (src/cpp/micro), the same
code a microcontroller runs: see `python -m pyconv export-c`.
"""

import math

import numpy as np

from . import _core
from .models import _check_batch_size, with_channel_axis

__all__ = ["quantize", "QuantizedModel", "load_quantized"]

# Output ranges TFLite fixes for its bounded activations: (scale, zero point).
_FIXED_OUTPUT = {"tanh": (1.0 / 128, 0), "sigmoid": (1.0 / 256, -128),
                 "hard_sigmoid": (1.0 / 256, -128)}
# Float activations the micro runtime has (for layers left in float, and softmax).
_FLOAT_ACTIVATIONS = ("linear", "relu", "relu6", "tanh", "sigmoid", "softmax", "swish", "elu")
# Identity at inference: left out of the quantized model.
_SKIPPED = ("Dropout", "RandomFlip", "RandomRotation", "RandomTranslation", "RandomZoom",
            "RandomContrast")
# Preprocessing that acts at inference: the micro runtime does not run it yet.
_PREPROCESSING = ("Rescaling", "Normalization", "Resizing", "RandomCrop")


def _activation_fn(name):
    """The activation as a float64 NumPy function (Keras's definitions)."""
    erf = np.vectorize(math.erf)
    fns = {
        "linear": lambda x: x,
        "relu": lambda x: np.maximum(x, 0),
        "relu6": lambda x: np.clip(x, 0, 6),
        "tanh": np.tanh,
        "sigmoid": lambda x: 1 / (1 + np.exp(-x)),
        "hard_sigmoid": lambda x: np.clip(x / 6 + 0.5, 0, 1),
        "swish": lambda x: x / (1 + np.exp(-x)),
        "silu": lambda x: x / (1 + np.exp(-x)),
        "elu": lambda x: np.where(x > 0, x, np.expm1(np.minimum(x, 0))),
        "selu": lambda x: 1.0507009873554805 * np.where(
            x > 0, x, 1.6732632423543772 * np.expm1(np.minimum(x, 0))),
        "softplus": lambda x: np.logaddexp(0, x),
        "leaky_relu": lambda x: np.where(x > 0, x, 0.2 * x),
        "gelu": lambda x: 0.5 * x * (1 + erf(x / math.sqrt(2))),
    }
    if name not in fns:
        raise ValueError(f"activation '{name}' cannot be quantized; leave its layer in float")
    return fns[name]


class _Range:
    """The values a tensor took on the representative data: min/max, and a
    sample of them for the percentile and entropy methods."""

    def __init__(self):
        self.lo, self.hi, self.samples = math.inf, -math.inf, []

    def add(self, values, rng):
        v = np.asarray(values, np.float32).ravel()
        if v.size == 0:
            return
        if not np.all(np.isfinite(v)):
            raise ValueError("the representative data gives a NaN or infinite activation; "
                             "check the data and the model")
        self.lo, self.hi = min(self.lo, float(v.min())), max(self.hi, float(v.max()))
        self.samples.append(v if v.size <= 200_000 else rng.choice(v, 200_000, replace=False))

    def limits(self, method, percentile):
        if method == "minmax":
            return self.lo, self.hi
        v = np.concatenate(self.samples)
        if method == "entropy":
            # Each sign's share of the 256 levels: all of them for a tensor of
            # one sign (a ReLU output), half each otherwise.
            levels = 128 if self.lo < 0 < self.hi else 256
            hi = _entropy_threshold(v[v > 0], levels) if self.hi > 0 else self.hi
            lo = -_entropy_threshold(-v[v < 0], levels) if self.lo < 0 else self.lo
            return lo, hi
        return float(np.percentile(v, 100 - percentile)), float(np.percentile(v, percentile))


def _entropy_threshold(a, levels, bins=2048):
    """The clipping point t of positive values `a` whose `levels`-level
    quantization of [0, t] loses the least information: the smallest
    KL divergence between the values' histogram clipped at t (what lies
    beyond folded into the last bin) and the clipped histogram merged into
    `levels` groups, each spread back over its nonzero bins (TensorRT's
    entropy calibration). Never beyond the largest value."""
    top = float(a.max())
    hist, _ = np.histogram(a, bins=bins, range=(0.0, top))
    hist = hist.astype(np.float64)
    if len(a) < 2 or top <= 0 or bins <= levels:
        return top
    best, best_kl = bins, math.inf
    for i in range(levels, bins + 1, 16):
        clipped = hist[:i]
        p = clipped.copy()
        p[-1] += hist[i:].sum()
        nonzero = p > 0
        q = np.zeros(i)
        for g in np.array_split(np.arange(i), levels):  # Q: from the clipped values alone
            kept = g[clipped[g] > 0]
            if len(kept):
                q[kept] = clipped[g].sum() / len(kept)
        # Where P has mass and Q none (the folded tail's bin, past every
        # clipped value), a small mass instead of an infinite divergence.
        q_sum = q.sum()
        if q_sum == 0:  # nothing left inside this clip: no distribution to compare
            continue
        q[nonzero & (q == 0)] = 1e-4 * q_sum / i
        p_sum, q_sum = p.sum(), q.sum()
        kl = float(np.sum(p[nonzero] / p_sum * np.log((p[nonzero] / p_sum) / (q[nonzero] / q_sum))))
        if kl < best_kl:
            best, best_kl = i, kl
    return top * best / bins


def _params_for(lo, hi, min_scale=0.0):
    """(scale, zero point) of int8 for [lo, hi], a range that includes 0 so
    that 0 (padding, ReLU's floor) is exact; the scale at least min_scale."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi == lo:  # only zeros seen (a ReLU that never fired): scale 1, as ONNX Runtime's
        hi = 255.0
    elif hi - lo < 1e-12:
        hi = lo + 1e-12
    scale = max((hi - lo) / 255.0, min_scale)
    zero_point = int(np.clip(_round(-128 - lo / scale), -128, 127))
    return float(np.float32(scale)), zero_point


def _quantize_multiplier(real):
    """real = multiplier * 2^shift / 2^31 with multiplier in [2^30, 2^31) (TFLite's)."""
    if real <= 0:
        return 0, 0
    q, shift = math.frexp(real)
    fixed = int(_round(q * (1 << 31)))
    if fixed == 1 << 31:
        fixed //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise ValueError(f"a requantization factor of {real:g} is too large for int8 "
                         "(is a layer's output range far smaller than its input's?)")
    return fixed, shift


def _window(config, in_shape, out_shape):
    """kernel_size, strides, dilation_rate and the padding before, as the
    model computed them (pyconv's and TensorFlow's 'same': the extra row or
    column after)."""
    def pair(key, default):
        v = config.get(key, default)
        return [int(v), int(v)] if np.isscalar(v) else [int(a) for a in v]
    k = pair("kernel_size", config.get("pool_size", (2, 2)))
    if "pool_size" in config:
        k = pair("pool_size", (2, 2))
    s = pair("strides", k if "pool_size" in config else (1, 1))
    d = pair("dilation_rate", (1, 1))
    padding = config.get("padding", "valid")
    if padding == "valid":
        before = [0, 0]
    elif padding == "same":
        before = []
        for axis in range(2):
            span = d[axis] * (k[axis] - 1) + 1
            total = max((out_shape[axis] - 1) * s[axis] + span - in_shape[axis], 0)
            before.append(total // 2)
    else:
        p = [int(padding)] * 4 if np.isscalar(padding) else [int(a) for a in padding]
        before = [p[0], p[2]] if len(p) == 4 else [p[0], p[1]]
    return {"kernel_size": k, "strides": s, "dilation_rate": d, "pad_before": before}


class _Plan:
    """The quantized model's nodes and tensors, appended in order."""

    def __init__(self):
        self.nodes, self.tensors = [], {}

    def add(self, kind, name, out_shape, tensors=None, **attrs):
        node = {"type": kind, "name": name, "output_shape": [int(d) for d in out_shape], **attrs}
        self.nodes.append((node, [len(self.nodes) - 1]))
        for what, value in (tensors or {}).items():
            self.tensors[f"quant/{name}/{what}"] = value


def _chain(g):
    """The layers of a model's graph, checked to be a chain: (config,
    weights, input shape, output shape, node index) per layer."""
    if g is None:
        raise ValueError("quantize() needs a built model")
    if len(g.input_shapes) != 1 or len(g.outputs) != 1 or g.outputs[0] != g.num_layers - 1:
        raise ValueError("quantize() takes a model of one input and one output")
    shape = tuple(g.input_shape)
    layers = []
    for i in range(g.num_layers):
        if list(g.node_inputs(i)) != [i - 1]:
            raise ValueError(f"quantize() takes a model whose layers form a chain; layer "
                             f"'{g.layer_config(i)['name']}' reads another layer than the one "
                             "before it")
        out = tuple(g.layer_output_shape(i))
        layers.append((g.layer_config(i), g.get_weights(i), shape, out, i))
        shape = out
    return layers


def _round(v):
    """Round half away from zero, as TFLite (and the micro runtime) do."""
    return np.sign(v) * np.floor(np.abs(v) + 0.5)


def _fold_batchnorm(kernel, bias, bn_config, bn_weights, depthwise):
    weights = list(bn_weights)  # [gamma] [beta] moving_mean moving_variance
    gamma = weights.pop(0) if bn_config.get("scale", True) else 1.0
    beta = weights.pop(0) if bn_config.get("center", True) else 0.0
    mean, var = weights
    factor = gamma / np.sqrt(var + bn_config.get("epsilon", 1e-3))
    if depthwise:  # kernel (kh, kw, C, m): output channel c * m + j
        kernel = kernel * factor.reshape(kernel.shape[2], kernel.shape[3])
    else:
        kernel = kernel * factor
    return kernel, (bias - mean) * factor + beta


def _as_ops(layers):
    """The chain as ops with their float weights: batch normalization folded
    into the convolution or dense layer before it, dropout left out."""
    ops = []
    for config, weights, in_shape, out_shape, node in layers:
        kind = config["type"]
        if kind in _SKIPPED:
            continue
        op = {"kind": kind, "config": config, "in": in_shape, "out": out_shape, "node": node,
              "name": config["name"], "names": [config["name"]],
              "activation": config.get("activation", "linear")}
        if kind in ("Conv2D", "DepthwiseConv2D", "Dense"):
            kernel = weights[0].astype(np.float64)
            bias = weights[1].astype(np.float64) if len(weights) > 1 else np.zeros(out_shape[-1])
            op["depthwise"] = kind == "DepthwiseConv2D"
            op["kernel"], op["bias"] = kernel, bias
        elif kind == "BatchNormalization":
            prev = ops[-1] if ops else None
            if (prev is None or "kernel" not in prev or prev["activation"] != "linear"
                    or prev["kind"] == "Dense" and len(out_shape) != 1):
                raise ValueError(f"BatchNormalization '{config['name']}' can be quantized only "
                                 "right after a convolution or dense layer without activation")
            prev["kernel"], prev["bias"] = _fold_batchnorm(prev["kernel"], prev["bias"], config,
                                                           [w.astype(np.float64) for w in weights],
                                                           prev["depthwise"])
            prev["node"] = node  # its output is now the folded layer's
            prev["names"].append(config["name"])
            continue
        elif kind in _PREPROCESSING:
            raise ValueError(f"layer '{config['name']}' ({kind}) cannot be quantized yet: "
                             "quantize a model without its preprocessing layers and apply them "
                             "to the data before qmodel.predict (the random augmentations are "
                             "left out by themselves)")
        elif kind == "ReLU":
            op["kind"], op["activation"] = "Activation", "relu"
        elif kind not in ("Activation", "MaxPooling2D", "AveragePooling2D",
                          "GlobalAveragePooling2D", "Flatten", "Reshape"):
            raise ValueError(f"layer '{config['name']}' ({kind}) cannot be quantized yet; the "
                             "micro runtime has Conv2D, DepthwiseConv2D, Dense, pooling, "
                             "Flatten, Reshape, Dropout, BatchNormalization after a "
                             "convolution, and activations")
        ops.append(op)
    return ops


def _calibrate(model, ops, data, batch_size, method, percentile):
    """Each op's output range (before its fused activation too, where that
    activation becomes a lookup table), and the input's."""
    g = model._graph
    rng = np.random.default_rng(0)
    input_range, ranges, pre = _Range(), {}, {}
    nodes = sorted({op["node"] for op in ops})
    needs_pre = [op for op in ops if "kernel" in op and op["activation"] not in ("linear", "relu",
                                                                                 "relu6")]
    runners = {}
    for op in needs_pre:  # the layer alone, linear, fed the layer's own input
        config = dict(op["config"], activation="linear", use_bias=True)
        runner = _core.LayerRunner(config, op["in"])
        runner.set_params([op["kernel"].astype(np.float32), op["bias"].astype(np.float32)])
        runners[op["name"]] = runner
    for start in range(0, len(data), batch_size):
        x = np.ascontiguousarray(data[start:start + batch_size], dtype=np.float32)
        input_range.add(x, rng)
        outs = dict(zip(nodes, g.node_outputs([x], nodes)))
        feeds = dict(outs)
        feeds[-1] = x
        for op in ops:
            ranges.setdefault(op["node"], _Range()).add(outs[op["node"]], rng)
        for op in needs_pre:
            feed = feeds[_input_node(ops, op)]
            pre.setdefault(op["name"], _Range()).add(runners[op["name"]].forward(feed), rng)
    limits = lambda r: r.limits(method, percentile)
    return (limits(input_range), {k: limits(r) for k, r in ranges.items()},
            {k: limits(r) for k, r in pre.items()})


def _input_node(ops, op):
    """The graph node whose output is op's input (-1: the model input)."""
    i = ops.index(op)
    return ops[i - 1]["node"] if i > 0 else -1


def _lookup_table(fn, in_params, out_params):
    q = np.arange(-128, 128)
    x = in_params[0] * (q - in_params[1])
    y = fn(x.astype(np.float64))
    return np.clip(_round(y / out_params[0]) + out_params[1], -128, 127).astype(np.int8)


def _weight_scales(op):
    """The kernel (a depthwise one as (kh, kw, 1, C * m): channel c * m + j)
    and its per-channel int8 scales."""
    kernel = op["kernel"]
    if op["depthwise"]:
        kernel = kernel.reshape(kernel.shape[0], kernel.shape[1], 1, -1)
    w_scale = np.abs(kernel.reshape(-1, kernel.shape[-1])).max(axis=0) / 127.0
    w_scale[w_scale == 0] = 1.0
    return kernel, w_scale.astype(np.float32).astype(np.float64)


def _output_params(w_scale, in_params, limits):
    """The int8 (scale, zero point) of a conv / dense op's output. Its scale
    is at least 2^-29 of the products' largest step, so that every
    requantization factor fits the integer multiplier: a narrower range
    (a layer whose outputs were all 0 in calibration, as a ReLU's that
    never fires) has outputs that round to its zero point at either scale."""
    return _params_for(*limits, min_scale=in_params[0] * float(w_scale.max()) / 2.0**29)


def _int8_weights(op, kernel, w_scale, in_params, out_params, clamp):
    """The int8 kernel, int32 bias, multipliers and shifts of a conv / dense op
    (kernel and w_scale: _weight_scales(op))."""
    kernel_q = np.clip(_round(kernel / w_scale), -127, 127).astype(np.int8)
    bias_scale = in_params[0] * w_scale
    bias_q = _round(op["bias"] / bias_scale)
    if np.abs(bias_q).max(initial=0) > 2**29:
        raise ValueError(f"layer '{op['name']}' has a bias too large for its int8 input and weight "
                         "scales (more than 2^29 steps); leave it in float")
    bias_q = bias_q.astype(np.int32)
    factors = [_quantize_multiplier(s / out_params[0]) for s in bias_scale]
    lo, hi = clamp
    return ({"kernel": kernel_q, "bias": bias_q,
             "multiplier": np.array([m for m, _ in factors], np.int32),
             "shift": np.array([s for _, s in factors], np.int32)},
            {"input_zero_point": in_params[1], "output_zero_point": out_params[1],
             "activation_min": lo, "activation_max": hi},
            kernel.shape)


def _clamp(activation, out_params):
    scale, zp = out_params
    if activation == "relu":
        return max(zp, -128), 127
    if activation == "relu6":
        return max(zp, -128), int(min(127, zp + _round(6.0 / scale)))
    return -128, 127


def quantize(model, representative_data, *, method="minmax", percentile=99.99,
             float_layers=(), batch_size=256):
    """An int8 copy of `model` (a built Sequential or functional chain),
    calibrated on `representative_data` (inputs like those it will see; a few
    hundred are usually enough).

    method: "minmax" (the full range seen), "percentile" (the range holding
    `percentile` percent of the values, clipping outliers) or "entropy" (each
    sign's clipping point that keeps the quantized values' distribution
    closest to the values', in KL divergence, as TensorRT and ONNX Runtime
    calibrate). float_layers: names of layers to keep in float."""
    if method not in ("minmax", "percentile", "entropy"):
        raise ValueError(f"method must be 'minmax', 'percentile' or 'entropy', received {method!r}")
    if not 50 < percentile <= 100:
        raise ValueError(f"percentile must be in (50, 100], received {percentile}")
    if model._graph is None and hasattr(model, "build"):
        model.build()  # a Sequential that starts with Input builds itself
    data = with_channel_axis(np.asarray(representative_data, np.float32),
                              tuple(model._graph.input_shape))
    if data.ndim < 1 or len(data) == 0 or tuple(data.shape[1:]) != tuple(model._graph.input_shape):
        raise ValueError(f"representative_data must be a non-empty batch of inputs of shape "
                         f"{tuple(model._graph.input_shape)}, received {data.shape}")
    batch_size = _check_batch_size(batch_size)
    chain = _chain(model._graph)
    ops = _as_ops(chain)
    if not ops:
        raise ValueError("quantize() needs a model with a layer that runs at inference; this one "
                         "has only layers that are left out there (Dropout, augmentations)")
    unknown = set(float_layers) - {config["name"] for config, *_ in chain}
    if unknown:
        raise ValueError(f"float_layers names layers this model does not have: {sorted(unknown)}")
    input_limits, out_limits, pre_limits = _calibrate(model, ops, data, batch_size, method,
                                                      percentile)
    plan = _Plan()
    params = None  # the int8 (scale, zero point) of the current tensor; None: float
    for op in ops:
        name, kind, out = op["name"], op["kind"], op["out"]
        act = op["activation"]
        in_float = (any(n in float_layers for n in op["names"])  # a folded normalization too
                    or kind == "Activation" and act == "softmax")
        if in_float:
            if params is not None:
                plan.add("DequantizeLinear", f"{name}_dequantize", op["in"], scale=params[0],
                         zero_point=params[1])
                params = None
            _add_float(plan, op)
            continue
        if params is None:  # into int8
            lim = input_limits if op is ops[0] else out_limits[_input_node(ops, op)]
            params = _params_for(*lim)
            plan.add("QuantizeLinear", f"{name}_quantize", op["in"], scale=params[0],
                     zero_point=params[1])
        if "kernel" in op:
            lut = act not in ("linear", "relu", "relu6")
            kernel, w_scale = _weight_scales(op)
            out_params = _output_params(w_scale, params,
                                        pre_limits[name] if lut else out_limits[op["node"]])
            tensors, attrs, kshape = _int8_weights(op, kernel, w_scale, params, out_params,
                                                   _clamp("linear" if lut else act, out_params))
            if kind == "Dense":
                if len(op["in"]) != 1:
                    raise ValueError(f"Dense '{name}' must follow a Flatten to be quantized")
                plan.add("QDense", name, out, tensors, **attrs)
            else:
                w = _window(op["config"], op["in"], out)
                groups = op["in"][-1] if op["depthwise"] else op["config"].get("groups", 1)
                plan.add("QConv2D", name, out, tensors, groups=int(groups), **w, **attrs)
            params = out_params
            if act == "softmax":
                plan.add("DequantizeLinear", f"{name}_dequantize", out, scale=params[0],
                         zero_point=params[1])
                plan.add("FActivation", f"{name}_softmax", out, activation="softmax")
                params = None
            elif lut:
                params = _add_lookup(plan, f"{name}_{act}", act, out, params,
                                     out_limits[op["node"]])
        elif kind == "Activation":
            params = _add_lookup(plan, name, act, out, params, out_limits[op["node"]])
        elif kind in ("MaxPooling2D", "AveragePooling2D"):
            w = _window(op["config"], op["in"], out)
            del w["dilation_rate"]
            plan.add("QMaxPooling2D" if kind == "MaxPooling2D" else "QAveragePooling2D", name, out,
                     **w)
        elif kind == "GlobalAveragePooling2D":
            plan.add("QGlobalAveragePooling2D", name, out)
        else:  # Flatten, Reshape: the same bytes
            plan.add("Reshape", name, out)
    if params is not None:
        plan.add("DequantizeLinear", "output_dequantize", ops[-1]["out"], scale=params[0],
                 zero_point=params[1])
    meta = {"pyconv.quantized": 1, "pyconv.quantization_method": method,
            "pyconv.source_model": model.name}
    core = _core.QuantizedModel.from_parts(tuple(model._graph.input_shape), plan.nodes,
                                           plan.tensors, meta)
    return QuantizedModel(core, name=f"{model.name}_int8")


def _add_lookup(plan, name, activation, shape, params, calibrated):
    """A lookup-table activation from int8 `params`; returns its output's."""
    out_params = _FIXED_OUTPUT.get(activation) or _params_for(*calibrated)
    table = _lookup_table(_activation_fn(activation), params, out_params)
    plan.add("QLookup", name, shape, {"table": table})
    return out_params


def _add_float(plan, op):
    kind, name, act = op["kind"], op["name"], op["activation"]
    if act not in _FLOAT_ACTIVATIONS:
        raise ValueError(f"layer '{name}' has activation '{act}', which the micro runtime does "
                         f"not run in float; it has {', '.join(_FLOAT_ACTIVATIONS)}")
    if kind in ("Conv2D", "DepthwiseConv2D", "Dense"):
        kernel = op["kernel"]
        if op["depthwise"]:
            kernel = kernel.reshape(kernel.shape[0], kernel.shape[1], 1, -1)
        tensors = {"kernel": kernel.astype(np.float32), "bias": op["bias"].astype(np.float32)}
        if kind == "Dense":
            if len(op["in"]) != 1:
                raise ValueError(f"Dense '{name}' must follow a Flatten to be quantized")
            plan.add("FDense", name, op["out"], tensors, activation=act)
        else:
            groups = op["in"][-1] if op["depthwise"] else op["config"].get("groups", 1)
            plan.add("FConv2D", name, op["out"], tensors, groups=int(groups), activation=act,
                     **_window(op["config"], op["in"], op["out"]))
    elif kind in ("MaxPooling2D", "AveragePooling2D"):
        w = _window(op["config"], op["in"], op["out"])
        del w["dilation_rate"]
        plan.add("F" + kind, name, op["out"], **w)
    elif kind == "GlobalAveragePooling2D":
        plan.add("FGlobalAveragePooling2D", name, op["out"])
    elif kind == "Activation":
        plan.add("FActivation", name, op["out"], activation=act)
    else:
        plan.add("Reshape", name, op["out"])


def float_plan(graph):
    """A float model's graph as the micro runtime's float layers: (nodes,
    tensors), as a quantized model describes itself (for export-c)."""
    plan = _Plan()
    for op in _as_ops(_chain(graph)):
        _add_float(plan, op)
    return plan.nodes, plan.tensors


class QuantizedModel:
    """An int8 model made by pyconv.quantize (or loaded from its file):
    predict, evaluate, save, and export to a microcontroller."""

    def __init__(self, core, name="model_int8"):
        self._core = core
        self.name = name

    @property
    def input_shape(self):
        return (None,) + tuple(self._core.input_shape)

    @property
    def output_shape(self):
        return (None,) + tuple(self._core.output_shape)

    @property
    def int8_kernels(self):
        """The int8 kernels this model runs with ('avx512_vnni_vbmi', 'avx512_vnni', 'avx2',
        'neon_dotprod', 'neon' or 'ref'), chosen when it was made or loaded."""
        return self._core.int8_kernels

    def predict(self, x, batch_size=None, verbose=0):
        """Outputs (float32) for a batch of inputs, as the float model's predict
        (a grayscale (N, H, W) batch too, for an (H, W, 1) model)."""
        if batch_size is None:
            out = self._core.predict_as_is(x)  # None unless x needs no conversion
            if out is not None:
                return out
        x = with_channel_axis(np.ascontiguousarray(x, dtype=np.float32),
                               tuple(self._core.input_shape))
        if batch_size is None:
            return self._core.predict(x)
        batch_size = _check_batch_size(batch_size)
        return np.concatenate([self._core.predict(x[i:i + batch_size])
                               for i in range(0, len(x), batch_size)]) if len(x) else \
            self._core.predict(x)

    def evaluate_accuracy(self, x, y):
        """The share of samples whose predicted class is the label."""
        return float(np.mean(self.predict(x).argmax(-1) == np.asarray(y).reshape(-1)))

    def save(self, filepath, overwrite=True):
        """Writes the quantized model to a .pcv file, atomically."""
        import os
        path = os.fspath(filepath)
        if not overwrite and os.path.exists(path):
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
        self._core.save(path)

    def layers(self):
        """The quantized model's layers (the micro runtime's ops) as dicts."""
        return self._core.nodes()

    def weight_bytes(self):
        return sum(a.nbytes for a in self._core.tensors().values())

    def summary(self, print_fn=print):
        print_fn(f'QuantizedModel "{self.name}"')
        for node in self.layers():
            print_fn(f"  {node['type']:<24} {node['name']:<28} {tuple(node['output_shape'])}")
        print_fn(f"weights: {self.weight_bytes():,} bytes; runtime arena: "
                 f"{self._core.arena_bytes():,} bytes per sample")

    def __getstate__(self):
        return {"pcv": self._core.to_bytes(), "name": self.name}

    def __setstate__(self, state):
        self._core = _core.QuantizedModel.from_bytes(state["pcv"])
        self.name = state["name"]


def load_quantized(filepath):
    """The quantized model saved at filepath."""
    import os
    return QuantizedModel(_core.QuantizedModel.load(os.fspath(filepath)))

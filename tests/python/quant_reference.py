"""A NumPy oracle of the micro runtime (src/cpp/micro): the same int8 and
float ops written independently from its description, to check the C++
reference kernels bit for bit on integers."""

import numpy as np


def rounding_doubling_high_mul(a, b):
    a, b = np.int64(a), np.int64(b)
    ab = a * b
    nudge = np.where(ab >= 0, 1 << 30, 1 - (1 << 30))
    # C's division truncates toward zero.
    q = (ab + nudge)
    out = np.where(q >= 0, q // (1 << 31), -((-q) // (1 << 31)))
    return np.where((a == -2**31) & (b == -2**31), 2**31 - 1, out).astype(np.int64)


def rounding_divide_by_pot(x, exponent):
    x = np.int64(x)
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + (remainder > threshold)


def requantize(acc, multiplier, shift):
    acc = np.asarray(acc, np.int64)
    out = np.empty_like(acc)
    for idx in np.ndindex(acc.shape):
        m, s = int(multiplier[idx[-1]]), int(shift[idx[-1]])
        a = int(acc[idx])
        if s > 0:
            a = max(-2**31, min(2**31 - 1, a * (1 << s)))
        out[idx] = rounding_divide_by_pot(rounding_doubling_high_mul(a, m), max(-s, 0))
    return out


def _hwc(shape):
    shape = list(shape)
    return [1] * (3 - len(shape)) + shape


def _windows(h_in, w_in, node, out_hw):
    kh, kw = node["kernel_size"]
    sh, sw = node["strides"]
    dh, dw = node.get("dilation_rate", (1, 1))
    pt, pl = node["pad_before"]
    for oh in range(out_hw[0]):
        for ow in range(out_hw[1]):
            taps = []
            for i in range(kh):
                for j in range(kw):
                    ih, iw = oh * sh - pt + i * dh, ow * sw - pl + j * dw
                    if 0 <= ih < h_in and 0 <= iw < w_in:
                        taps.append((i, j, ih, iw))
            yield oh, ow, taps


def _conv(x, node, kernel, bias, zp, out_hw):
    """sum over taps of (x - zp) * w + bias, as int64 (int) or float64."""
    h, w, c = x.shape
    groups = node.get("groups", 1)
    f = kernel.shape[-1]
    cg, fg = c // groups, f // groups
    acc = np.zeros(tuple(out_hw) + (f,), np.float64 if kernel.dtype == np.float32 else np.int64)
    acc += bias
    for oh, ow, taps in _windows(h, w, node, out_hw):
        for i, j, ih, iw in taps:
            for g in range(groups):
                xs = x[ih, iw, g * cg:(g + 1) * cg].astype(acc.dtype) - zp
                acc[oh, ow, g * fg:(g + 1) * fg] += xs @ kernel[i, j, :, g * fg:(g + 1) * fg].astype(acc.dtype)
    return acc


def _activate(name, v):
    return {"linear": lambda v: v, "relu": lambda v: np.maximum(v, 0),
            "relu6": lambda v: np.clip(v, 0, 6), "tanh": np.tanh,
            "sigmoid": lambda v: 1 / (1 + np.exp(-v)), "swish": lambda v: v / (1 + np.exp(-v)),
            "elu": lambda v: np.where(v > 0, v, np.expm1(np.minimum(v, 0))),
            "softmax": lambda v: np.exp(v - v.max(-1, keepdims=True)) /
            np.exp(v - v.max(-1, keepdims=True)).sum(-1, keepdims=True)}[name](v)


def run(nodes, tensors, x):
    """One sample x (float32, the model's input shape) through the ops."""
    v = np.asarray(x, np.float32).reshape(_hwc(x.shape))
    for node in nodes:
        kind, name = node["type"], node["name"]
        t = lambda what: tensors[f"quant/{name}/{what}"]
        out = _hwc(node["output_shape"])
        if kind == "QuantizeLinear":
            q = np.round(v.astype(np.float32) / np.float32(node["scale"]))  # numpy rounds half to even
            exact = v.astype(np.float32) / np.float32(node["scale"])
            q = np.where(np.abs(exact - np.trunc(exact)) == 0.5, np.trunc(exact) + np.sign(exact), q)
            v = np.clip(q + node["zero_point"], -128, 127).astype(np.int8)
        elif kind == "DequantizeLinear":
            v = (np.float32(node["scale"]) * (v.astype(np.float32) - node["zero_point"])).astype(np.float32)
        elif kind in ("QConv2D", "QDense"):
            if kind == "QConv2D":
                acc = _conv(v, node, t("kernel"), t("bias").astype(np.int64),
                            node["input_zero_point"], out[:2])
            else:
                acc = ((v.reshape(-1).astype(np.int64) - node["input_zero_point"]) @
                       t("kernel").astype(np.int64) + t("bias")).reshape(out)
            y = requantize(acc, t("multiplier"), t("shift")) + node["output_zero_point"]
            v = np.clip(y, node["activation_min"], node["activation_max"]).astype(np.int8)
        elif kind in ("QMaxPooling2D", "QAveragePooling2D", "FMaxPooling2D", "FAveragePooling2D"):
            y = np.zeros(out, np.int8 if kind[0] == "Q" else np.float32)
            for oh, ow, taps in _windows(v.shape[0], v.shape[1], node, out[:2]):
                vals = np.array([v[ih, iw] for _, _, ih, iw in taps])
                if "Max" in kind:
                    y[oh, ow] = vals.max(0)
                elif kind[0] == "Q":
                    s, n = vals.astype(np.int64).sum(0), len(vals)
                    y[oh, ow] = np.where(s >= 0, (s + n // 2) // n, -((-s + n // 2) // n))
                else:
                    y[oh, ow] = vals.astype(np.float32).sum(0) / np.float32(len(vals))
            v = y
        elif kind == "QGlobalAveragePooling2D":
            s, n = v.reshape(-1, v.shape[-1]).astype(np.int64).sum(0), v.shape[0] * v.shape[1]
            v = np.where(s >= 0, (s + n // 2) // n, -((-s + n // 2) // n)).astype(np.int8).reshape(out)
        elif kind == "QLookup":
            v = t("table")[v.astype(np.int64) + 128]
        elif kind == "Reshape":
            v = v.reshape(out)
        elif kind in ("FConv2D", "FDense"):
            if kind == "FConv2D":
                acc = _conv(v, node, t("kernel"), t("bias").astype(np.float64), 0, out[:2])
            else:
                acc = (v.reshape(-1).astype(np.float64) @ t("kernel").astype(np.float64)
                       + t("bias")).reshape(out)
            v = _activate(node.get("activation", "linear"), acc).astype(np.float32)
        elif kind == "FGlobalAveragePooling2D":
            v = v.reshape(-1, v.shape[-1]).mean(0).astype(np.float32).reshape(out)
        elif kind == "FActivation":
            v = _activate(node["activation"], v.astype(np.float64)).astype(np.float32)
        else:
            raise AssertionError(f"unknown op {kind}")
    return v.reshape(-1)

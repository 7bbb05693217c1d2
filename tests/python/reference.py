"""Plain numpy (float64) reference implementations of the pyconv ops.

Written from the op specification, not from the C++ core: explicit loops over
kernel taps / output positions, so that each line can be checked by eye.
Layout is channels-last (N, H, W, C); kernels use the Keras layouts
(KH, KW, C/G, F) for Conv2D and (in, units) for Dense.
"""

import math

import numpy as np

EPSILON = 1e-7  # Keras backend.epsilon(), used to clip probabilities.


def _pair(v):
    if np.isscalar(v):
        return int(v), int(v)
    a, b = v
    return int(a), int(b)


def _f64(a):
    return np.asarray(a, dtype=np.float64)


# --------------------------------------------------------------------------
# Activations
# --------------------------------------------------------------------------


def relu(x):
    x = _f64(x)
    return np.where(x > 0, x, 0.0)


def sigmoid(x):
    # Stable in both directions: exp only ever sees -|x|.
    x = _f64(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def tanh(x):
    return np.tanh(_f64(x))


def softmax(x, axis=-1):
    x = _f64(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(z)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_softmax(x, axis=-1):
    x = _f64(x)
    z = x - np.max(x, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


SELU_ALPHA, SELU_SCALE = 1.6732632423543772, 1.0507009873554805
_erf = np.vectorize(math.erf)


def gelu(x):
    x = _f64(x)
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


ACTIVATIONS = {
    "linear": lambda x: _f64(x),
    "relu": relu,
    "tanh": tanh,
    "sigmoid": sigmoid,
    "softmax": softmax,
    "elu": lambda x: np.where(_f64(x) > 0, _f64(x), np.expm1(np.minimum(_f64(x), 0))),
    "selu": lambda x: SELU_SCALE * np.where(_f64(x) > 0, _f64(x),
                                            SELU_ALPHA * np.expm1(np.minimum(_f64(x), 0))),
    "softplus": lambda x: np.logaddexp(0.0, _f64(x)),
    "relu6": lambda x: np.clip(_f64(x), 0.0, 6.0),
    "hard_sigmoid": lambda x: np.clip(_f64(x) / 6.0 + 0.5, 0.0, 1.0),
    "leaky_relu": lambda x: np.where(_f64(x) > 0, _f64(x), 0.2 * _f64(x)),
    "gelu": gelu,
    "swish": lambda x: _f64(x) * sigmoid(x),
    "silu": lambda x: _f64(x) * sigmoid(x),
}

# Derivatives from the input x, for the activations added after the first five.
_DERIVATIVES = {
    "elu": lambda x: np.where(x > 0, 1.0, np.exp(np.minimum(x, 0))),
    "selu": lambda x: SELU_SCALE * np.where(x > 0, 1.0, SELU_ALPHA * np.exp(np.minimum(x, 0))),
    "softplus": sigmoid,
    "relu6": lambda x: ((x > 0) & (x < 6)).astype(np.float64),
    "hard_sigmoid": lambda x: np.where((x > -3) & (x < 3), 1.0 / 6.0, 0.0),
    "leaky_relu": lambda x: np.where(x > 0, 1.0, 0.2),
    "gelu": lambda x: 0.5 * (1.0 + _erf(x / math.sqrt(2.0)))
    + x * np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi),
    "swish": lambda x: sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))),
    "silu": lambda x: sigmoid(x) * (1.0 + x * (1.0 - sigmoid(x))),
}


def activation(name, x):
    return ACTIVATIONS[name](x)


def activation_backward(name, y, dy, x=None):
    """Gradient through the activation given its output y (and for the newer
    activations its input x) and upstream dy."""
    y = _f64(y)
    dy = _f64(dy)
    if name in _DERIVATIVES:
        return dy * _DERIVATIVES[name](_f64(x))
    if name == "linear":
        return dy
    if name == "relu":
        return dy * (y > 0)
    if name == "tanh":
        return dy * (1.0 - y * y)
    if name == "sigmoid":
        return dy * y * (1.0 - y)
    if name == "softmax":
        # J^T dy for softmax over the last axis: y * (dy - <dy, y>).
        return y * (dy - np.sum(dy * y, axis=-1, keepdims=True))
    raise KeyError(name)


# --------------------------------------------------------------------------
# Padding rules
# --------------------------------------------------------------------------


def same_pads(size, k_eff, stride):
    """TensorFlow "same": out = ceil(size/stride); extra padding goes to the end."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k_eff - size, 0)
    return total // 2, total - total // 2


def conv_pads(h, w, kernel_size, strides, padding, dilation_rate):
    """(top, bottom, left, right) for a Conv2D config."""
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation_rate)
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            top, bottom = same_pads(h, dh * (kh - 1) + 1, sh)
            left, right = same_pads(w, dw * (kw - 1) + 1, sw)
            return top, bottom, left, right
        raise ValueError(padding)
    top, bottom, left, right = (int(p) for p in padding)
    return top, bottom, left, right


def conv_output_hw(h, w, kernel_size, strides, padding, dilation_rate):
    kh, kw = _pair(kernel_size)
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation_rate)
    top, bottom, left, right = conv_pads(h, w, kernel_size, strides, padding, dilation_rate)
    oh = (h + top + bottom - dh * (kh - 1) - 1) // sh + 1
    ow = (w + left + right - dw * (kw - 1) - 1) // sw + 1
    return oh, ow


# --------------------------------------------------------------------------
# Conv2D
# --------------------------------------------------------------------------


def conv2d(
    x,
    kernel,
    bias=None,
    strides=(1, 1),
    padding="valid",
    dilation_rate=(1, 1),
    groups=1,
    activation_name="linear",
):
    """Grouped, dilated, strided 2-D cross-correlation (no kernel flip)."""
    x = _f64(x)
    k = _f64(kernel)
    n, h, w, c = x.shape
    kh, kw, cg, f = k.shape
    assert c % groups == 0 and c // groups == cg, (c, groups, cg)
    assert f % groups == 0, (f, groups)
    fg = f // groups
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation_rate)
    top, bottom, left, right = conv_pads(h, w, (kh, kw), strides, padding, dilation_rate)
    oh, ow = conv_output_hw(h, w, (kh, kw), strides, padding, dilation_rate)
    assert oh >= 1 and ow >= 1, (oh, ow)

    xp = np.zeros((n, h + top + bottom, w + left + right, c))
    xp[:, top : top + h, left : left + w, :] = x

    y = np.zeros((n, oh, ow, f))
    for g in range(groups):
        cin = slice(g * cg, (g + 1) * cg)
        cout = slice(g * fg, (g + 1) * fg)
        for i in range(kh):
            for j in range(kw):
                r0 = i * dh
                c0 = j * dw
                # Input pixel seen by tap (i, j) for every output position.
                patch = xp[:, r0 : r0 + (oh - 1) * sh + 1 : sh, c0 : c0 + (ow - 1) * sw + 1 : sw, cin]
                assert patch.shape[1:3] == (oh, ow)
                y[..., cout] += patch @ k[i, j][:, cout]
    if bias is not None:
        y = y + _f64(bias)
    return activation(activation_name, y)


def conv2d_backward(x, kernel, dy, strides=(1, 1), padding="valid", dilation_rate=(1, 1),
                    groups=1):
    """(dx, dkernel, dbias) of sum(conv2d(x, kernel, bias) * dy), linear activation."""
    x, k, dy = _f64(x), _f64(kernel), _f64(dy)
    n, h, w, c = x.shape
    kh, kw, cg, f = k.shape
    fg = f // groups
    sh, sw = _pair(strides)
    dh, dw = _pair(dilation_rate)
    top, bottom, left, right = conv_pads(h, w, (kh, kw), strides, padding, dilation_rate)
    oh, ow = dy.shape[1:3]
    xp = np.zeros((n, h + top + bottom, w + left + right, c))
    xp[:, top : top + h, left : left + w, :] = x
    dxp = np.zeros_like(xp)
    dk = np.zeros_like(k)
    for g in range(groups):
        cin = slice(g * cg, (g + 1) * cg)
        cout = slice(g * fg, (g + 1) * fg)
        for i in range(kh):
            for j in range(kw):
                rows = slice(i * dh, i * dh + (oh - 1) * sh + 1, sh)
                cols = slice(j * dw, j * dw + (ow - 1) * sw + 1, sw)
                patch = xp[:, rows, cols, cin]
                dk[i, j, :, cout] = np.einsum("nhwc,nhwf->cf", patch, dy[..., cout])
                dxp[:, rows, cols, cin] += dy[..., cout] @ k[i, j][:, cout].T
    return dxp[:, top : top + h, left : left + w, :], dk, dy.sum(axis=(0, 1, 2))


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------


def pool_pads_and_out(size, pool, stride, padding):
    """(pad_before, out) along one spatial axis."""
    if padding == "valid":
        return 0, (size - pool) // stride + 1
    if padding == "same":
        out = -(-size // stride)
        total = max((out - 1) * stride + pool - size, 0)
        return total // 2, out
    raise ValueError(padding)


def _windows(h, w, pool_size, strides, padding):
    """Yield (oh, ow, h_start, h_end, w_start, w_end) of the in-bounds window."""
    ph, pw = _pair(pool_size)
    sh, sw = _pair(strides)
    pt, oh_n = pool_pads_and_out(h, ph, sh, padding)
    pl, ow_n = pool_pads_and_out(w, pw, sw, padding)
    for oh in range(oh_n):
        h0 = oh * sh - pt
        hs, he = max(h0, 0), min(h0 + ph, h)
        for ow in range(ow_n):
            w0 = ow * sw - pl
            ws, we = max(w0, 0), min(w0 + pw, w)
            assert he > hs and we > ws
            yield oh, ow, hs, he, ws, we


def pool_output_hw(h, w, pool_size, strides, padding):
    ph, pw = _pair(pool_size)
    sh, sw = _pair(strides)
    return pool_pads_and_out(h, ph, sh, padding)[1], pool_pads_and_out(w, pw, sw, padding)[1]


def max_pool2d(x, pool_size, strides, padding="valid"):
    """Max over in-bounds elements only (padding never wins)."""
    x = _f64(x)
    n, h, w, c = x.shape
    oh_n, ow_n = pool_output_hw(h, w, pool_size, strides, padding)
    y = np.empty((n, oh_n, ow_n, c))
    for oh, ow, hs, he, ws, we in _windows(h, w, pool_size, strides, padding):
        y[:, oh, ow, :] = x[:, hs:he, ws:we, :].max(axis=(1, 2))
    return y


def max_pool2d_backward(x, dy, pool_size, strides, padding="valid"):
    """dy routed to the first maximum (row-major window order) of each window."""
    x = _f64(x)
    dy = _f64(dy)
    n, h, w, c = x.shape
    dx = np.zeros_like(x)
    for oh, ow, hs, he, ws, we in _windows(h, w, pool_size, strides, padding):
        win = x[:, hs:he, ws:we, :].reshape(n, -1, c)
        arg = np.argmax(win, axis=1)  # first max, row-major order
        wh = he - hs
        ww = we - ws
        for b in range(n):
            for ch in range(c):
                r, s = divmod(int(arg[b, ch]), ww)
                assert r < wh
                dx[b, hs + r, ws + s, ch] += dy[b, oh, ow, ch]
    return dx


def avg_pool2d(x, pool_size, strides, padding="valid"):
    """Mean over in-bounds elements (divisor excludes padding, as in TF/Keras)."""
    x = _f64(x)
    n, h, w, c = x.shape
    oh_n, ow_n = pool_output_hw(h, w, pool_size, strides, padding)
    y = np.empty((n, oh_n, ow_n, c))
    for oh, ow, hs, he, ws, we in _windows(h, w, pool_size, strides, padding):
        y[:, oh, ow, :] = x[:, hs:he, ws:we, :].mean(axis=(1, 2))
    return y


def avg_pool2d_backward(x_shape, dy, pool_size, strides, padding="valid"):
    dy = _f64(dy)
    n, h, w, c = x_shape
    dx = np.zeros(x_shape)
    for oh, ow, hs, he, ws, we in _windows(h, w, pool_size, strides, padding):
        count = (he - hs) * (we - ws)
        dx[:, hs:he, ws:we, :] += dy[:, oh, ow, None, None, :] / count
    return dx


def global_avg_pool2d(x):
    return _f64(x).mean(axis=(1, 2))


# --------------------------------------------------------------------------
# Dense
# --------------------------------------------------------------------------


def dense(x, kernel, bias=None, activation_name="linear"):
    y = _f64(x) @ _f64(kernel)
    if bias is not None:
        y = y + _f64(bias)
    return activation(activation_name, y)


# --------------------------------------------------------------------------
# Losses. All use the Keras "sum_over_batch_size" reduction: mean over samples.
# --------------------------------------------------------------------------


def _labels(target, n):
    t = np.asarray(target).reshape(-1)
    assert t.shape == (n,)
    return t.astype(np.int64)


def sparse_ce_logits(logits, target):
    """Returns (loss, grad). loss_i = logsumexp(z_i) - z_i[y_i]."""
    z = _f64(logits)
    n, k = z.shape
    y = _labels(target, n)
    logp = log_softmax(z)
    loss = -np.mean(logp[np.arange(n), y])
    onehot = np.eye(k)[y]
    grad = (np.exp(logp) - onehot) / n
    return loss, grad


def sparse_ce_probs(probs, target):
    """Loss only. Defined on probability rows: -log(clip(p[y]))."""
    p = np.clip(_f64(probs), EPSILON, 1.0 - EPSILON)
    n, k = p.shape
    y = _labels(target, n)
    return -np.mean(np.log(p[np.arange(n), y]))


def categorical_ce_logits(logits, target):
    z = _f64(logits)
    t = _f64(target)
    n = z.shape[0]
    logp = log_softmax(z)
    loss = -np.mean(np.sum(t * logp, axis=-1))
    # d/dz of -sum_k t_k log softmax_k = softmax * sum(t) - t
    grad = (np.exp(logp) * t.sum(axis=-1, keepdims=True) - t) / n
    return loss, grad


def categorical_ce_probs(probs, target):
    """Loss, and the gradient assuming no element is clipped.

    p is renormalised per row (q = p / S) and clipped before the log, so
    loss_i = -sum_k t_k log(p_k / S);  d/dp_j = -t_j / p_j + sum(t) / S.
    """
    p = _f64(probs)
    t = _f64(target)
    n = p.shape[0]
    s = p.sum(axis=-1, keepdims=True)
    q = np.clip(p / s, EPSILON, 1.0 - EPSILON)
    loss = -np.mean(np.sum(t * np.log(q), axis=-1))
    grad = (-t / p + t.sum(axis=-1, keepdims=True) / s) / n
    return loss, grad


def mse(pred, target):
    p = _f64(pred)
    t = _f64(target)
    d = p - t
    return np.mean(d * d), 2.0 * d / d.size


def hinge(pred, target):
    """Keras hinge: 0/1 targets become -1/+1; mean(max(1 - t p, 0))."""
    p = _f64(pred)
    t = _f64(target)
    if np.all((t == 0) | (t == 1)):
        t = 2.0 * t - 1.0
    margin = 1.0 - t * p
    loss = np.mean(np.maximum(margin, 0.0))
    grad = np.where(margin > 0, -t, 0.0) / p.size
    return loss, grad

"""Conv2D through _core.LayerRunner: forward against reference.conv2d, backward
against finite differences, and the layer contract (shapes, params, init)."""

import numpy as np
import pytest

import reference as ref
from gradcheck import assert_close_to_reference, check_layer_grads, randomize_params
import pyconv
from pyconv import _core

CHANNELS = [1, 2, 3, 4, 7, 8, 15, 16]  # cross SIMD widths 4/8/16 and +-1
# Output channel count per input channel count (for groups == 1): also crosses widths.
FILTERS_FOR = {1: 4, 2: 3, 3: 8, 4: 16, 7: 1, 8: 9, 15: 7, 16: 17}

# (id, kernel_size, strides, padding, dilation_rate, groups); groups "dw" = depthwise
# (groups == C, filters == C), "dw2" = depthwise with depth multiplier 2.
CASES = [
    ("1x1", (1, 1), (1, 1), "valid", (1, 1), 1),
    ("1x1_s2", (1, 1), (2, 2), "valid", (1, 1), 1),
    ("1x1_s3_same", (1, 1), (3, 3), "same", (1, 1), 1),
    ("3x3_valid", (3, 3), (1, 1), "valid", (1, 1), 1),
    ("3x3_same", (3, 3), (1, 1), "same", (1, 1), 1),
    ("3x3_s2_same", (3, 3), (2, 2), "same", (1, 1), 1),
    ("3x3_s2_valid", (3, 3), (2, 2), "valid", (1, 1), 1),
    ("2x2_s2_same", (2, 2), (2, 2), "same", (1, 1), 1),
    ("4x4_s3_same", (4, 4), (3, 3), "same", (1, 1), 1),
    ("5x5_same", (5, 5), (1, 1), "same", (1, 1), 1),
    ("3x2_s2x1_explicit", (3, 2), (2, 1), (1, 0, 2, 1), (1, 1), 1),
    ("2x3_s1x2_explicit_wide", (2, 3), (1, 2), (2, 2, 0, 3), (1, 1), 1),
    ("3x3_d2_same", (3, 3), (1, 1), "same", (2, 2), 1),
    ("3x3_d2x1_s1x2_valid", (3, 3), (1, 2), "valid", (2, 1), 1),
    ("2x2_d3_s2_same", (2, 2), (2, 2), "same", (3, 3), 1),
    ("3x3_d2_s2_same", (3, 3), (2, 2), "same", (2, 2), 1),
    ("3x3_s2_pad3", (3, 3), (2, 2), (3, 1, 2, 3), (1, 1), 1),  # padding past the kernel's reach
    ("dw_3x3_same", (3, 3), (1, 1), "same", (1, 1), "dw"),
    ("dw_3x3_s2_valid", (3, 3), (2, 2), "valid", (1, 1), "dw"),
    ("dw_1x1", (1, 1), (1, 1), "valid", (1, 1), "dw"),
    ("dw2_5x3_same", (5, 3), (1, 1), "same", (1, 1), "dw2"),
    ("g2_3x3_same", (3, 3), (1, 1), "same", (1, 1), 2),
    ("g3_1x1", (1, 1), (1, 1), "valid", (1, 1), 3),
    ("g2_3x3_d2_s2_explicit", (3, 3), (2, 2), (1, 2, 0, 1), (2, 2), 2),
]

INPUT_HW = (7, 9)  # odd spatial sizes


def conv_config(
    filters,
    kernel_size,
    strides=(1, 1),
    padding="valid",
    dilation_rate=(1, 1),
    groups=1,
    activation="linear",
    use_bias=True,
    name="conv",
):
    return {
        "type": "Conv2D",
        "name": name,
        "filters": int(filters),
        "kernel_size": [int(k) for k in kernel_size],
        "strides": [int(s) for s in strides],
        "padding": padding if isinstance(padding, str) else [int(p) for p in padding],
        "dilation_rate": [int(d) for d in dilation_rate],
        "groups": int(groups),
        "activation": activation,
        "use_bias": bool(use_bias),
    }


def resolve_groups(groups, c):
    """(groups, filters) for a table entry and input channel count c, or None if invalid."""
    if groups == "dw":
        return c, c
    if groups == "dw2":
        return c, 2 * c
    if c % groups:
        return None
    return groups, groups * max(1, FILTERS_FOR[c] // groups)


def reference_forward(cfg, x, params):
    bias = params[1] if cfg["use_bias"] else None
    return ref.conv2d(
        x,
        params[0],
        bias,
        cfg["strides"],
        cfg["padding"],
        cfg["dilation_rate"],
        cfg["groups"],
        cfg["activation"],
    )


def build(cfg, input_shape, seed):
    rng = np.random.default_rng(seed)
    runner = _core.LayerRunner(cfg, tuple(input_shape))
    params = randomize_params(runner, rng)
    return runner, params, rng


def run_forward_case(cfg, n, input_shape, seed):
    runner, params, rng = build(cfg, input_shape, seed)
    x = rng.standard_normal((n,) + tuple(input_shape)).astype(np.float32)
    y = runner.forward(x)
    expected = reference_forward(cfg, x, params)
    assert tuple(runner.output_shape) == expected.shape[1:]
    assert_close_to_reference(y, expected)
    return runner, x


def table_params(channels):
    out = []
    for case_id, k, s, pad, d, g in CASES:
        for c in channels:
            gf = resolve_groups(g, c)
            if gf is None:
                continue
            out.append(pytest.param(k, s, pad, d, gf[0], gf[1], c, id=f"{case_id}-c{c}"))
    return out


TABLE_ARGS = "kernel_size, strides, padding, dilation, groups, filters, channels"


@pytest.mark.parametrize(TABLE_ARGS, table_params(CHANNELS))
def test_forward_table(kernel_size, strides, padding, dilation, groups, filters, channels):
    cfg = conv_config(filters, kernel_size, strides, padding, dilation, groups)
    n = 1 if channels % 2 else 2  # batch 1 for odd channel counts
    run_forward_case(cfg, n, INPUT_HW + (channels,), seed=channels)


@pytest.mark.parametrize("filters", [1, 2, 3, 4, 7, 8, 9, 15, 16, 17, 33])
def test_forward_filter_counts(filters):
    cfg = conv_config(filters, (3, 3), (1, 1), "same")
    run_forward_case(cfg, 2, (5, 7, 3), seed=filters)


@pytest.mark.parametrize(TABLE_ARGS, table_params([1, 3, 8]))
def test_backward_table(kernel_size, strides, padding, dilation, groups, filters, channels):
    cfg = conv_config(filters, kernel_size, strides, padding, dilation, groups)
    runner, params, rng = build(cfg, INPUT_HW + (channels,), seed=100 + channels)
    x = rng.standard_normal((2,) + INPUT_HW + (channels,)).astype(np.float32)
    check_layer_grads(runner, x, seed=channels)


@pytest.mark.parametrize(
    "input_hw, kernel_size, padding",
    [
        ((3, 2), (5, 5), "same"),  # padding larger than the input
        ((3, 3), (5, 5), (1, 1, 1, 1)),  # explicit padding makes the kernel fit exactly
        ((1, 1), (3, 3), "same"),
        ((1, 5), (1, 5), "valid"),
        ((2, 2), (2, 2), "valid"),  # 1x1 output
    ],
)
def test_tiny_inputs(input_hw, kernel_size, padding):
    cfg = conv_config(5, kernel_size, (1, 1), padding)
    runner, x = run_forward_case(cfg, 2, input_hw + (3,), seed=7)
    check_layer_grads(runner, x, seed=7)


def random_case(seed):
    rng = np.random.default_rng(seed)
    g = int(rng.choice([1, 1, 2, 3, 4]))
    c = g * int(rng.integers(1, 6))
    if rng.random() < 0.2:
        g = c  # depthwise
    f = g * int(rng.integers(1, 5))
    k = tuple(int(v) for v in rng.integers(1, 5, size=2))
    s = tuple(int(v) for v in rng.integers(1, 4, size=2))
    d = tuple(int(v) for v in rng.integers(1, 3, size=2))
    keff = [d[i] * (k[i] - 1) + 1 for i in range(2)]
    mode = rng.choice(["valid", "same", "explicit"])
    if mode == "explicit":
        padding = tuple(int(v) for v in rng.integers(0, 4, size=4))
        extra = (padding[0] + padding[1], padding[2] + padding[3])
    else:
        padding = str(mode)
        extra = (keff[0], keff[1]) if mode == "same" else (0, 0)
    hw = tuple(int(rng.integers(max(1, keff[i] - extra[i]), keff[i] + 8)) for i in range(2))
    n = int(rng.integers(1, 4))
    act = str(rng.choice(["linear", "linear", "tanh", "sigmoid", "softmax"]))
    use_bias = bool(rng.random() < 0.8)
    cfg = conv_config(f, k, s, padding, d, g, act, use_bias)
    return cfg, n, hw + (c,)


@pytest.mark.parametrize("seed", range(16))
def test_random_shapes(seed):
    cfg, n, input_shape = random_case(seed)
    runner, x = run_forward_case(cfg, n, input_shape, seed)
    check_layer_grads(runner, x, seed=seed, n_coords=20)


# --- activations ------------------------------------------------------------

ACTS = ["linear", "relu", "tanh", "sigmoid", "softmax"]


@pytest.mark.parametrize("activation", ACTS)
@pytest.mark.parametrize("filters", [1, 5, 16])
def test_forward_activation(activation, filters):
    cfg = conv_config(filters, (3, 3), (1, 1), "same", activation=activation)
    runner, x = run_forward_case(cfg, 2, (5, 7, 3), seed=filters)
    if activation == "softmax":
        np.testing.assert_allclose(runner.forward(x).sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("activation", ["tanh", "gelu", "elu", "relu"])
@pytest.mark.parametrize("groups, channels", [(1, 3), (6, 6)])  # direct, depthwise
@pytest.mark.parametrize("threads", [1, 2])
def test_activation_applied_by_each_range_of_outputs(activation, groups, channels, threads):
    # The direct and depthwise paths apply the activation to each range of
    # outputs a thread has written: a batch of 9 makes several ranges.
    pyconv.set_num_threads(threads)
    cfg = conv_config(6, (3, 3), (1, 1), "same", groups=groups, activation=activation)
    run_forward_case(cfg, 9, (11, 13, channels), seed=groups + threads)
    pyconv.set_num_threads(0)


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "softmax"])
def test_backward_smooth_activation(activation):
    cfg = conv_config(5, (3, 3), (2, 1), "same", activation=activation)
    runner, params, rng = build(cfg, (5, 6, 3), seed=3)
    x = rng.standard_normal((2, 5, 6, 3)).astype(np.float32)
    check_layer_grads(runner, x, seed=3)


@pytest.mark.parametrize("activation", ACTS)
def test_backward_fused_activation_chain_rule(activation):
    """backward of conv+act(dy) == backward of linear conv(act'(z) * dy), exactly the
    chain rule; this covers ReLU, where finite differences would hit kinks."""
    cfg = conv_config(6, (3, 3), (1, 1), "same", activation=activation)
    lin_cfg = dict(cfg, activation="linear")
    runner, params, rng = build(cfg, (5, 7, 4), seed=11)
    lin = _core.LayerRunner(lin_cfg, (5, 7, 4))
    lin.set_params(params)
    x = rng.standard_normal((2, 5, 7, 4)).astype(np.float32)
    y = runner.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dps = runner.backward(dy)
    z = lin.forward(x)
    np.testing.assert_allclose(ref.activation(activation, z), y, rtol=1e-5, atol=1e-6)
    dz = ref.activation_backward(activation, y, dy).astype(np.float32)
    dx_lin, dps_lin = lin.backward(dz)
    np.testing.assert_allclose(dx, dx_lin, rtol=1e-4, atol=1e-4)
    for a, b in zip(dps, dps_lin):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


# --- bias / params / contract -------------------------------------------------


def test_no_bias():
    cfg = conv_config(4, (3, 3), (1, 1), "same", use_bias=False)
    runner = _core.LayerRunner(cfg, (5, 5, 3))
    assert list(runner.param_names) == ["kernel"]
    assert [p.shape for p in runner.get_params()] == [(3, 3, 3, 4)]
    runner, x = run_forward_case(cfg, 2, (5, 5, 3), seed=1)
    check_layer_grads(runner, x, seed=1)


@pytest.mark.parametrize("groups, channels, filters", [(1, 3, 8), (3, 3, 6), (4, 8, 4)])
def test_param_shapes_and_default_init(groups, channels, filters):
    cfg = conv_config(filters, (3, 2), (1, 1), "valid", groups=groups)
    runner = _core.LayerRunner(cfg, (6, 5, channels))
    assert list(runner.param_names) == ["kernel", "bias"]
    kernel, bias = runner.get_params()
    assert kernel.shape == (3, 2, channels // groups, filters)
    assert bias.shape == (filters,)
    assert kernel.dtype == np.float32 and bias.dtype == np.float32
    assert np.all(bias == 0)
    # glorot_uniform (Keras): fan_in = KH*KW*C/G, fan_out = KH*KW*F.
    limit = np.sqrt(6.0 / (3 * 2 * (channels // groups) + 3 * 2 * filters))
    assert np.all(np.abs(kernel) <= limit * (1 + 1e-6))
    assert np.abs(kernel).max() > 0.3 * limit
    assert np.unique(kernel).size > kernel.size // 2


def test_output_shape_is_tuple():
    runner = _core.LayerRunner(conv_config(8, (3, 3), (2, 2), "same"), (7, 9, 3))
    assert isinstance(runner.output_shape, tuple)
    assert runner.output_shape == (4, 5, 8)


def test_get_params_returns_copies_and_set_params_round_trip():
    runner = _core.LayerRunner(conv_config(4, (3, 3)), (5, 5, 2))
    rng = np.random.default_rng(0)
    params = randomize_params(runner, rng)
    got = runner.get_params()
    for a, b in zip(got, params):
        np.testing.assert_array_equal(a, b)
    got[0][...] = 123.0
    np.testing.assert_array_equal(runner.get_params()[0], params[0])


def test_batch_independence():
    cfg = conv_config(7, (3, 3), (2, 1), "same", dilation_rate=(1, 2))
    runner, params, rng = build(cfg, (7, 9, 5), seed=2)
    x = rng.standard_normal((3, 7, 9, 5)).astype(np.float32)
    y = runner.forward(x)
    for i in range(3):
        np.testing.assert_allclose(runner.forward(x[i : i + 1].copy())[0], y[i], rtol=1e-5, atol=1e-5)


def test_backward_uses_last_forward():
    cfg = conv_config(3, (3, 3), (1, 1), "same")
    runner, params, rng = build(cfg, (4, 4, 2), seed=4)
    x1 = rng.standard_normal((1, 4, 4, 2)).astype(np.float32)
    x2 = rng.standard_normal((2, 4, 4, 2)).astype(np.float32)
    runner.forward(x1)
    y2 = runner.forward(x2)
    dy = np.ones_like(y2)
    dx, (dk, db) = runner.backward(dy)
    assert dx.shape == x2.shape
    np.testing.assert_allclose(db, np.full(3, 2 * 4 * 4), rtol=1e-6)


@pytest.mark.parametrize("groups", [1, 2])
def test_strided_input_gradient_in_runs_of_columns(groups):
    # A strided convolution's input gradient goes through column rows that
    # run across samples, cut into runs of about 8 MB: with 12800 taps per
    # row a run is 163 pixels, so runs end inside samples and span two.
    rng = np.random.default_rng(4)
    runner = _core.LayerRunner({"type": "Conv2D", "filters": 2 * groups, "kernel_size": [5, 5],
                                "strides": [2, 2], "padding": "same", "groups": groups},
                               (36, 35, 512 * groups))
    kernel, bias = [rng.standard_normal(p.shape).astype(np.float32)
                    for p in runner.get_params()]
    runner.set_params([kernel, bias])
    x = rng.standard_normal((3, 36, 35, 512 * groups)).astype(np.float32)
    y = runner.forward(x, training=True)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, (dkernel, dbias) = runner.backward(dy)
    want = ref.conv2d_backward(x, kernel, dy, strides=(2, 2), padding="same", groups=groups)
    for got, expected in zip((dx, dkernel, dbias), want):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-3 * np.abs(expected).max())


# Batch-1 and small-batch forward split among threads at the kernel's step
# (whole output rows for few filters, the register tile otherwise): the
# output is the reference's and bit-identical whatever the thread count.
@pytest.mark.parametrize(
    "filters,kernel,padding,dilation,shape,n",
    [
        (6, (5, 5), "same", (1, 1), (29, 31, 1), 1),  # LeNet's first layer, odd sizes
        (5, (3, 3), "valid", (1, 1), (33, 27, 2), 2),  # few filters, two samples
        (16, (5, 5), "valid", (1, 1), (15, 13, 6), 1),  # LeNet's second layer, odd sizes
        (17, (3, 3), "same", (2, 1), (19, 23, 8), 3),  # direct, dilated, three samples
        (3, (4, 4), "same", (1, 1), (9, 7, 3), 2),  # few filters: uneven padding, three planes
        (8, (3, 3), "same", (2, 3), (11, 10, 1), 1),  # few filters, dilated: wide borders
        (2, (3, 5), "valid", (1, 1), (4, 6, 1), 3),  # no padding, rows as they lie
    ],
)
def test_forward_threads_bit_identical(filters, kernel, padding, dilation, shape, n):
    import pyconv

    cfg = conv_config(filters, kernel, padding=padding, dilation_rate=dilation, activation="relu")
    runner, params, rng = build(cfg, shape, 7)
    x = rng.standard_normal((n,) + tuple(shape)).astype(np.float32)
    outputs = []
    try:
        for threads in (1, 2, 3, 5):
            pyconv.set_num_threads(threads)
            outputs.append(runner.forward(x))
    finally:
        pyconv.set_num_threads(0)
    assert_close_to_reference(outputs[0], reference_forward(cfg, x, params))
    for y in outputs[1:]:
        np.testing.assert_array_equal(y, outputs[0])

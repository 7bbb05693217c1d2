"""MaxPooling2D, AveragePooling2D, the global pools and Flatten through
_core.LayerRunner against reference.py and finite differences."""

import numpy as np
import pytest

import reference as ref
from gradcheck import assert_close_to_reference, check_layer_grads, spaced_values
from pyconv import _core

CHANNELS = [1, 2, 3, 4, 7, 8, 15, 16]
INPUT_HW = (7, 5)  # odd spatial sizes

# (id, pool_size, strides, padding)
CASES = [
    ("2x2_s2_valid", (2, 2), (2, 2), "valid"),
    ("2x2_s2_same", (2, 2), (2, 2), "same"),  # odd sizes: a partial last window
    ("3x3_s2_valid", (3, 3), (2, 2), "valid"),  # overlapping windows
    ("3x3_s2_same", (3, 3), (2, 2), "same"),
    ("3x3_s1_same", (3, 3), (1, 1), "same"),  # padding on both sides
    ("3x3_s3_same", (3, 3), (3, 3), "same"),
    ("2x3_s1x2_valid", (2, 3), (1, 2), "valid"),
    ("3x2_s3x1_same", (3, 2), (3, 1), "same"),
    ("2x2_s3_same", (2, 2), (3, 3), "same"),  # stride > pool
    ("1x1_s1_valid", (1, 1), (1, 1), "valid"),
    ("5x5_s1_valid", (5, 5), (1, 1), "valid"),
    ("4x4_s1_same", (4, 4), (1, 1), "same"),  # even pool, asymmetric padding
]

KINDS = {"MaxPooling2D": ref.max_pool2d, "AveragePooling2D": ref.avg_pool2d}


def assert_pool_output(kind, y, expected):
    if kind == "MaxPooling2D":
        # A max is one of the inputs: exact.
        assert y.dtype == np.float32
        np.testing.assert_array_equal(y, expected.astype(np.float32))
    else:
        assert_close_to_reference(y, expected)


def pool_config(kind, pool_size, strides, padding, name="pool"):
    return {
        "type": kind,
        "name": name,
        "pool_size": [int(p) for p in pool_size],
        "strides": [int(s) for s in strides],
        "padding": padding,
    }


def make_input(kind, shape, rng):
    # Max pooling: distinct, well-spaced values, so no ties and no order swaps
    # under the finite-difference step. Average pooling: any values.
    if kind == "MaxPooling2D":
        return spaced_values(shape, rng)
    return rng.standard_normal(shape).astype(np.float32)


def table_params(channels):
    return [
        pytest.param(kind, p, s, pad, c, id=f"{kind}-{case_id}-c{c}")
        for kind in KINDS
        for case_id, p, s, pad in CASES
        for c in channels
    ]


@pytest.mark.parametrize("kind, pool_size, strides, padding, channels", table_params(CHANNELS))
def test_forward_table(kind, pool_size, strides, padding, channels):
    rng = np.random.default_rng(channels)
    n = 1 if channels % 2 else 2
    shape = (n,) + INPUT_HW + (channels,)
    runner = _core.LayerRunner(pool_config(kind, pool_size, strides, padding), shape[1:])
    assert list(runner.param_names) == []
    assert runner.get_params() == []
    x = make_input(kind, shape, rng)
    y = runner.forward(x)
    expected = KINDS[kind](x, pool_size, strides, padding)
    assert tuple(runner.output_shape) == expected.shape[1:]
    assert_pool_output(kind, y, expected)


@pytest.mark.parametrize("kind, pool_size, strides, padding, channels", table_params([1, 3, 8, 16]))
def test_backward_table(kind, pool_size, strides, padding, channels):
    rng = np.random.default_rng(50 + channels)
    shape = (2,) + INPUT_HW + (channels,)
    runner = _core.LayerRunner(pool_config(kind, pool_size, strides, padding), shape[1:])
    x = make_input(kind, shape, rng)
    # spacing 0.05, eps 5e-3: no finite-difference step changes any argmax.
    check_layer_grads(runner, x, seed=channels, eps=5e-3)

    # And the exact closed form, on every coordinate.
    y = runner.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dparams = runner.backward(dy)
    assert list(dparams) == []
    if kind == "MaxPooling2D":
        expected = ref.max_pool2d_backward(x, dy, pool_size, strides, padding)
    else:
        expected = ref.avg_pool2d_backward(x.shape, dy, pool_size, strides, padding)
    assert_close_to_reference(dx, expected, rtol=1e-5, atol_rel=1e-5)


@pytest.mark.parametrize("padding", ["valid", "same"])
def test_max_pool_all_negative_ignores_padding(padding):
    """Padded positions must never win: with all-negative input every output is negative."""
    rng = np.random.default_rng(3)
    x = -1.0 - rng.random((2, 5, 5, 3)).astype(np.float32)
    runner = _core.LayerRunner(pool_config("MaxPooling2D", (3, 3), (2, 2), padding), (5, 5, 3))
    y = runner.forward(x)
    assert np.all(y < -0.5)
    assert_pool_output("MaxPooling2D", y, ref.max_pool2d(x, (3, 3), (2, 2), padding))


def test_avg_pool_same_divides_by_in_bounds_count():
    x = np.ones((1, 3, 3, 1), np.float32)
    runner = _core.LayerRunner(pool_config("AveragePooling2D", (3, 3), (1, 1), "same"), (3, 3, 1))
    # Corner windows cover 4 in-bounds ones: mean 1, not 4/9.
    np.testing.assert_allclose(runner.forward(x), np.ones((1, 3, 3, 1)), rtol=1e-6)


def test_max_pool_hand_computed():
    x = np.arange(16, dtype=np.float32).reshape(1, 4, 4, 1)
    runner = _core.LayerRunner(pool_config("MaxPooling2D", (2, 2), (2, 2), "valid"), (4, 4, 1))
    np.testing.assert_array_equal(runner.forward(x)[0, :, :, 0], [[5, 7], [13, 15]])
    dx, _ = runner.backward(np.ones((1, 2, 2, 1), np.float32))
    expected = np.zeros((4, 4), np.float32)
    expected[[1, 1, 3, 3], [1, 3, 1, 3]] = 1
    np.testing.assert_array_equal(dx[0, :, :, 0], expected)


@pytest.mark.parametrize("seed", range(12))
def test_random_shapes(seed):
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(list(KINDS)))
    p = tuple(int(v) for v in rng.integers(1, 5, size=2))
    s = tuple(int(v) for v in rng.integers(1, 4, size=2))
    padding = str(rng.choice(["valid", "same"]))
    hw = tuple(int(rng.integers(p[i], p[i] + 8)) for i in range(2))
    c = int(rng.integers(1, 20))
    shape = (int(rng.integers(1, 4)),) + hw + (c,)
    runner = _core.LayerRunner(pool_config(kind, p, s, padding), shape[1:])
    x = make_input(kind, shape, rng)
    expected = KINDS[kind](x, p, s, padding)
    assert tuple(runner.output_shape) == expected.shape[1:]
    assert_pool_output(kind, runner.forward(x), expected)
    check_layer_grads(runner, x, seed=seed, eps=5e-3, n_coords=20)


# --- GlobalAveragePooling2D ---------------------------------------------------


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("hw", [(1, 1), (7, 5), (4, 4)])
def test_global_avg_pool(channels, hw):
    rng = np.random.default_rng(channels)
    shape = (2,) + hw + (channels,)
    runner = _core.LayerRunner({"type": "GlobalAveragePooling2D", "name": "gap"}, shape[1:])
    assert tuple(runner.output_shape) == (channels,)
    assert list(runner.param_names) == []
    x = rng.standard_normal(shape).astype(np.float32)
    assert_close_to_reference(runner.forward(x), ref.global_avg_pool2d(x))
    check_layer_grads(runner, x, seed=channels)
    dy = rng.standard_normal((2, channels)).astype(np.float32)
    runner.forward(x)
    dx, _ = runner.backward(dy)
    expected = np.broadcast_to(dy[:, None, None, :] / (hw[0] * hw[1]), shape)
    assert_close_to_reference(dx, expected, rtol=1e-6, atol_rel=1e-6)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("hw", [(1, 1), (7, 5), (4, 4)])
def test_global_max_pool(channels, hw):
    rng = np.random.default_rng(channels)
    shape = (2,) + hw + (channels,)
    runner = _core.LayerRunner({"type": "GlobalMaxPooling2D", "name": "gmp"}, shape[1:])
    assert tuple(runner.output_shape) == (channels,)
    # Distinct values: a finite difference never crosses a tie.
    x = spaced_values(shape, rng)
    assert_close_to_reference(runner.forward(x), x.max(axis=(1, 2)))
    check_layer_grads(runner, x, seed=channels, eps=5e-3)


@pytest.mark.parametrize("kind, reduce", [("GlobalAveragePooling2D", np.mean),
                                          ("GlobalMaxPooling2D", np.max)])
def test_global_pools_keep_dims(kind, reduce):
    rng = np.random.default_rng(1)
    runner = _core.LayerRunner({"type": kind, "name": "g", "keepdims": True}, (5, 3, 4))
    assert tuple(runner.output_shape) == (1, 1, 4)
    x = spaced_values((2, 5, 3, 4), rng)
    assert_close_to_reference(runner.forward(x), reduce(x, axis=(1, 2), keepdims=True))
    check_layer_grads(runner, x, eps=5e-3)


def test_global_max_pool_gradient_goes_to_the_first_maximum():
    runner = _core.LayerRunner({"type": "GlobalMaxPooling2D", "name": "gmp"}, (2, 2, 1))
    x = np.array([[[[1.0], [3.0]], [[3.0], [2.0]]]], np.float32)
    runner.forward(x)
    dx, _ = runner.backward(np.array([[5.0]], np.float32))
    np.testing.assert_array_equal(dx.reshape(-1), [0.0, 5.0, 0.0, 0.0])


# --- Flatten --------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (1, 1, 1, 7), (3, 4, 2, 1)])
def test_flatten(shape):
    rng = np.random.default_rng(0)
    runner = _core.LayerRunner({"type": "Flatten", "name": "flat"}, shape[1:])
    assert tuple(runner.output_shape) == (int(np.prod(shape[1:])),)
    x = rng.standard_normal(shape).astype(np.float32)
    y = runner.forward(x)
    np.testing.assert_array_equal(y, x.reshape(shape[0], -1))  # channels-last row-major order
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dparams = runner.backward(dy)
    assert list(dparams) == []
    np.testing.assert_array_equal(dx, dy.reshape(shape))

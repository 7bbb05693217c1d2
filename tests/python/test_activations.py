"""The Activation layer through _core.LayerRunner."""

import numpy as np
import pytest

import reference as ref
from gradcheck import assert_close_to_reference, check_layer_grads, spaced_values
from pyconv import _core

ACTS = ["linear", "relu", "tanh", "sigmoid", "softmax"]
SHAPES = [(1,), (7,), (16,), (17,), (3, 5, 4), (2, 3, 15)]


def act_runner(name, input_shape):
    return _core.LayerRunner({"type": "Activation", "name": "act", "activation": name}, tuple(input_shape))


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ACTS)
def test_forward(activation, shape):
    rng = np.random.default_rng(len(shape))
    runner = act_runner(activation, shape)
    assert tuple(runner.output_shape) == shape
    assert list(runner.param_names) == []
    x = (3 * rng.standard_normal((2,) + shape)).astype(np.float32)
    y = runner.forward(x)
    assert_close_to_reference(y, ref.activation(activation, x), rtol=1e-5, atol_rel=1e-6)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("activation", ACTS)
def test_backward(activation, shape):
    rng = np.random.default_rng(len(shape) + 10)
    runner = act_runner(activation, shape)
    # Well-spaced distinct values keep ReLU away from its kink (eps << spacing/2);
    # for the smooth activations they are just a spread of inputs in about [-3, 3].
    n = 2 * int(np.prod(shape))
    x = spaced_values((2,) + shape, rng, spacing=min(0.05, 6.0 / n))
    check_layer_grads(runner, x, seed=len(shape), eps=min(1e-2, 0.5 / n) if activation == "relu" else 1e-2)
    # Closed form on every element.
    y = runner.forward(x)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dparams = runner.backward(dy)
    assert list(dparams) == []
    expected = ref.activation_backward(activation, ref.activation(activation, x), dy)
    assert_close_to_reference(dx, expected, rtol=1e-5, atol_rel=1e-5)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 7, 8, 15, 16, 17, 100])
def test_softmax_rows_sum_to_one(k):
    rng = np.random.default_rng(k)
    runner = act_runner("softmax", (3, k))
    x = (5 * rng.standard_normal((4, 3, k))).astype(np.float32)
    y = runner.forward(x)
    assert np.all(y >= 0)
    np.testing.assert_allclose(y.sum(axis=-1), 1.0, rtol=1e-5)


def test_softmax_is_over_last_axis():
    runner = act_runner("softmax", (2, 3))
    x = np.array([[[0, 0, 0], [1, 2, 3]]], np.float32)
    y = runner.forward(x)
    np.testing.assert_allclose(y[0, 0], [1 / 3] * 3, rtol=1e-5)
    e = np.exp([1.0, 2.0, 3.0])
    np.testing.assert_allclose(y[0, 1], e / e.sum(), rtol=1e-5)


@pytest.mark.parametrize("activation", ACTS)
def test_extreme_inputs_finite(activation):
    runner = act_runner(activation, (4,))
    x = np.array(
        [[1e4, -1e4, 0, 1], [-1e4, -1e4, -1e4, -1e4], [1e4, 1e4, 1e4, 0], [88, 89, -88, -89]],
        np.float32,
    )
    y = runner.forward(x)
    assert np.all(np.isfinite(y)), y
    assert_close_to_reference(y, ref.activation(activation, x), rtol=1e-5, atol_rel=1e-6)
    dx, _ = runner.backward(np.ones_like(y))
    assert np.all(np.isfinite(dx)), dx


def test_hand_computed_values():
    x = np.array([[-2.0, -0.5, 0.0, 0.5, 2.0]], np.float32)
    np.testing.assert_array_equal(act_runner("relu", (5,)).forward(x), [[0, 0, 0, 0.5, 2]])
    np.testing.assert_array_equal(act_runner("linear", (5,)).forward(x), x)
    np.testing.assert_allclose(act_runner("sigmoid", (5,)).forward(x)[0, 2], 0.5, rtol=1e-6)
    y = act_runner("tanh", (5,)).forward(x)[0]
    np.testing.assert_allclose(y, np.tanh(x[0].astype(np.float64)), rtol=1e-6)
